/**
 * a · Wᵀ (+ bias) for weights in torch layout W (n, k), on the tfjs "webgpu"
 * backend through a register-tiled WGSL kernel that reads W as stored (no
 * transpose), with an optional f16 copy of W (`shader-f16`). Differentiable.
 *
 * Glossary: m rows of activations, k input width, n output width.
 *
 * Reference: `torch.nn.functional.linear` (y = x Wᵀ + b); the kernel's tiling
 * is described in `_wgsl_matmul.ts`.
 *
 * @module
 */
import { tf } from "../backend.ts";
import {
  allocate,
  dispatch,
  type Launch,
  pipeline,
  type Plan,
  release,
  runPlan,
  webgpuBackend,
} from "./_dispatch.ts";
import {
  checkMatMulConfig,
  type MatMulConfig,
  matMulKey,
  matMulShader,
  matMulWorkgroupBytes,
  toF16Shader,
} from "./_wgsl_matmul.ts";
import { registerWebGPUKernels } from "./_register.ts";
import { reduceRowsLaunch } from "./_wgsl_reduce.ts";

/** Name of the tfjs kernel (inputs a, w, optional bias; attr precision). */
export const MATMUL_NT = "MambaMatMulNT";

/** Arithmetic of {@linkcode matMulNT}: W read as f32, or as an f16 copy. */
export type MatMulPrecision = "f32" | "f16";

/** Launch parameters of {@linkcode matMulNT} (defaults from the H200 bench). */
export interface MatMulTuning {
  /** "large": 128×128 tiles, 8×8 per thread; "small": 64×64, 4×4; "auto":
   * see `fillWorkgroups`. */
  tile: "auto" | "large" | "small";
  /** K per staged slice (16 or 32; 32 needs 34 KiB of workgroup memory). */
  BK: number;
  /**
   * Workgroups that fill the GPU (the H200 has 132 multiprocessors). "auto"
   * takes the large tile when it gives at least half this many workgroups,
   * else the small tile when that gives this many, else the large tile with
   * K split into slices (summed by a second pass) until there are this many
   * (`split: 0`). On the H200's Mamba-130m shapes each choice was the
   * fastest of the three (BENCHMARKS.md, fifth session).
   */
  fillWorkgroups: number;
  /**
   * K slices: 0 for automatic (see `fillWorkgroups`), else this many, capped
   * so that each slice keeps at least four staged steps of K (4·BK).
   */
  split: number;
}

const tuning: MatMulTuning = {
  tile: "auto",
  BK: 16,
  fillWorkgroups: 256,
  split: 0,
};

/**
 * Overrides launch parameters (benchmarks and tests).
 *
 * @param t the parameters to change.
 * @returns the parameters now in force.
 */
export function setMatMulTuning(t: Partial<MatMulTuning>): MatMulTuning {
  Object.assign(tuning, t);
  return { ...tuning };
}

const ceil = (a: number, b: number) => Math.ceil(a / b);

/** Tile config and K split of one product. */
interface MatMulShape {
  c: MatMulConfig;
  /** K slices (1: no split). */
  splits: number;
  /** K per slice, a multiple of BK. */
  kPer: number;
}

function planConfig(
  m: number,
  n: number,
  k: number,
  f16: boolean,
): MatMulShape {
  const fill = tuning.fillWorkgroups;
  const largeTiles = ceil(m, 128) * ceil(n, 128);
  const large = tuning.tile === "large" ||
    (tuning.tile === "auto" &&
      (largeTiles >= fill / 2 || ceil(m, 64) * ceil(n, 64) < fill));
  const vec4 = k % 4 === 0 && n % 4 === 0;
  const c: MatMulConfig = large
    ? { BM: 128, BN: 128, BK: tuning.BK, TM: 8, TN: 8, vec4, f16 }
    : { BM: 64, BN: 64, BK: tuning.BK, TM: 4, TN: 4, vec4, f16 };
  checkMatMulConfig(c);
  const tiles = ceil(m, c.BM) * ceil(n, c.BN);
  let splits = tuning.split > 0
    ? tuning.split
    : (tiles >= fill ? 1 : ceil(fill, tiles));
  // Each slice keeps at least four staged steps of K.
  splits = Math.max(1, Math.min(splits, Math.floor(k / (4 * c.BK))));
  if (k === 0) return { c, splits: 1, kPer: 0 };
  const kPer = ceil(ceil(k, splits), c.BK) * c.BK;
  return { c, splits: ceil(k, kPer), kPer };
}

type Backend = ReturnType<typeof webgpuBackend>;
type Info = tf.TensorInfo;

/**
 * Whether `precision: "f16"` can run here.
 *
 * @returns true when the active backend is "webgpu" and its device has the
 *   `shader-f16` feature.
 */
export function hasShaderF16(): boolean {
  return tf.getBackend() === "webgpu" &&
    webgpuBackend().device.features.has("shader-f16");
}

// f16 copies of weights, per backend, keyed by the weight's dataId (a
// tf.Variable's `assign` gives it a new dataId, so a stale copy is never
// found). A copy is freed once the engine no longer knows its dataId, i.e.
// every tensor sharing that data was disposed (checked on every call).
const f16Copies = new WeakMap<Backend, Map<object, Info>>();

function engineHas(dataId: object): boolean {
  const state = (tf.engine() as unknown as {
    state: { tensorInfo: WeakMap<object, unknown> };
  }).state;
  return state.tensorInfo.has(dataId);
}

function sweep(backend: Backend, copies: Map<object, Info>): void {
  for (const [id, info] of copies) {
    if (!engineHas(id)) {
      release(backend, info);
      copies.delete(id);
    }
  }
}

/**
 * Size of the f16 weight cache (tests): copies whose weight data was disposed
 * are freed first.
 *
 * @returns how many f16 weight copies are held now.
 */
export function f16CacheSize(): number {
  if (tf.getBackend() !== "webgpu") return 0;
  const backend = webgpuBackend();
  const copies = f16Copies.get(backend);
  if (!copies) return 0;
  sweep(backend, copies);
  return copies.size;
}

function f16Copy(backend: Backend, w: Info): Info {
  let copies = f16Copies.get(backend);
  if (!copies) f16Copies.set(backend, copies = new Map());
  sweep(backend, copies);
  let copy = copies.get(w.dataId);
  if (!copy) {
    const size = w.shape[0] * w.shape[1];
    copy = allocate(backend, [Math.max(1, ceil(size, 2))]); // pairs of f16
    const p = pipeline(backend.device, "matmul_to_f16", toF16Shader);
    const groups = Math.min(4096, ceil(ceil(size, 2), 256));
    dispatch(backend, p, [copy, w], [size], [groups, 1, 1]);
    copies.set(w.dataId, copy);
  }
  return copy;
}

function matMulKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info {
  const backend = webgpuBackend();
  const { a, w, bias } = inputs as { a: Info; w: Info; bias?: Info };
  const f16 = (attrs as { precision: MatMulPrecision }).precision === "f16";
  const [m, k] = a.shape;
  const n = w.shape[0];
  const plan = matMulPlan(backend.device, m, n, k, !!bias, f16);
  const out = allocate(backend, [m, n]);
  if (m === 0 || n === 0) return out;
  const named: Record<string, Info> = {
    out,
    a,
    w: f16 ? f16Copy(backend, w) : w,
  };
  if (bias) named.bias = bias;
  runPlan(backend, plan, named);
  return out;
}

/**
 * The dispatches of out = a·wᵀ (+ bias) for a (m, k), w (n, k), with the
 * tuning in force: one tiled product, or (few output tiles) a product of K
 * slices into `part` and their sum. Buffer names: out, a, w (f16 pairs when
 * `f16`), bias, part.
 *
 * @param device the device (limits).
 * @returns the plan.
 * @throws Error when workgroup memory, RangeError when a storage binding
 *   would exceed the device's limits.
 */
export function matMulPlan(
  device: GPUDevice,
  m: number,
  n: number,
  k: number,
  hasBias: boolean,
  f16 = false,
): Plan {
  const { c, splits, kPer } = planConfig(m, n, k, f16);
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (matMulWorkgroupBytes(c) > limit) {
    throw new Error(
      `matMulNT: BK=${c.BK} needs ${
        matMulWorkgroupBytes(c)
      } bytes of workgroup memory, limit ${limit}`,
    );
  }
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const sizes: [string, number][] = [
    ["a", m * k],
    ["w", n * k],
    ["output", m * n],
    ["K-slice partial sums", splits > 1 ? splits * m * n : 0],
  ];
  for (const [name, size] of sizes) {
    if (4 * size > maxBinding) {
      throw new RangeError(
        `matMulNT: ${name} needs a ${
          4 * size
        }-byte storage binding, device limit ${maxBinding}`,
      );
    }
  }
  const product: Launch = {
    key: matMulKey(c),
    wgsl: () => matMulShader(c),
    uniforms: [m, n, k, hasBias ? 1 : 0, kPer],
    groups: [ceil(n, c.BN), ceil(m, c.BM), splits],
  };
  const ins = ["a", "w", hasBias ? "bias" : "a"];
  if (splits === 1) {
    return {
      temps: {},
      steps: [{ launch: product, buffers: ["out", ...ins] }],
    };
  }
  return {
    temps: { part: [splits * m * n] },
    steps: [
      { launch: product, buffers: ["part", ...ins] },
      {
        launch: reduceRowsLaunch(device, splits, m * n),
        buffers: ["out", "part"],
      },
    ],
  };
}

let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernels([[MATMUL_NT, matMulKernel]]);
}

function check(
  a: tf.Tensor,
  w: tf.Tensor,
  bias: tf.Tensor | undefined,
  precision: string,
): void {
  const fail = (what: string) => {
    throw new Error(`matMulNT: ${what}`);
  };
  if (a.rank !== 2) fail(`a: expected rank 2 (m, k), received [${a.shape}]`);
  if (w.rank !== 2) fail(`w: expected rank 2 (n, k), received [${w.shape}]`);
  if (a.shape[1] !== w.shape[1]) {
    fail(
      `w: expected k = ${
        a.shape[1]
      } columns (a is [${a.shape}]), received [${w.shape}]`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== w.shape[0])) {
    fail(`bias: expected shape [${w.shape[0]}], received [${bias.shape}]`);
  }
  for (const [name, t] of [["a", a], ["w", w], ["bias", bias]] as const) {
    if (t && t.dtype !== "float32") {
      fail(`${name}: expected dtype float32, received ${t.dtype}`);
    }
  }
  if (precision !== "f32" && precision !== "f16") {
    fail(
      `precision: expected "f32" or "f16", received ${
        JSON.stringify(precision)
      }`,
    );
  }
  if (precision === "f16" && !hasShaderF16()) {
    fail(
      `precision "f16" needs the webgpu backend on a device with the ` +
        `"shader-f16" feature; backend "${tf.getBackend()}"${
          tf.getBackend() === "webgpu" ? " lacks it" : ""
        }`,
    );
  }
}

/** Forward only: our kernel on webgpu, tfjs's transposeB matMul elsewhere. */
function forward(
  a: tf.Tensor2D,
  w: tf.Tensor2D,
  bias: tf.Tensor1D | undefined,
  precision: MatMulPrecision,
): tf.Tensor2D {
  if (tf.getBackend() !== "webgpu") {
    const y: tf.Tensor2D = tf.matMul(a, w, false, true); // (m, n)
    return bias ? tf.add(y, bias) : y;
  }
  register();
  const inputs: tf.NamedTensorMap = bias ? { a, w, bias } : { a, w };
  return tf.engine().runKernel(
    MATMUL_NT,
    inputs,
    { precision } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor2D;
}

/** dA = dC·W and dW = dCᵀ·A, both as our NT matmul in f32. */
function grads(
  dy: tf.Tensor2D,
  a: tf.Tensor2D,
  w: tf.Tensor2D,
): [tf.Tensor2D, tf.Tensor2D] {
  const da = forward(dy, w.transpose(), undefined, "f32"); // (m, k)
  const dw = forward(dy.transpose(), a.transpose(), undefined, "f32"); // (n, k)
  return [da, dw];
}

/**
 * a · wᵀ (+ bias): a linear layer with the weight in torch layout
 * (out, in), read as stored. On the "webgpu" backend a register-tiled WGSL
 * kernel (128×128 or 64×64 output tiles, vec4 loads when k and n are
 * multiples of 4); on other backends tfjs's `matMul(a, w, false, true)`.
 * Gradients (tfjs's tape: `tf.grads`, optimizers) are dA = dC·W,
 * dW = dCᵀ·A, dBias = Σ_rows dC, computed with the same kernel in f32.
 *
 * With `precision: "f16"` the kernel reads an f16 copy of w (made once per
 * weight tensor and cached until that tensor's data is disposed; a
 * tf.Variable's `assign` makes a new copy) and still multiplies and sums in
 * f32; the gradient uses w itself.
 *
 * @param a (m, k) activations, float32.
 * @param w (n, k) weight, float32.
 * @param options `bias` (n) added to every row; `precision` "f32"
 *   (default) or "f16".
 * @returns (m, n).
 * @throws Error naming the argument whose shape or dtype is wrong, or when
 *   "f16" is asked for without the `shader-f16` feature.
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { matMulNT } from "./matmul.ts";
 * await setBackend("webgpu");
 * const x = tf.randomNormal([2048, 768]) as tf.Tensor2D; // (m, k)
 * const w = tf.randomNormal([3072, 768]) as tf.Tensor2D; // (n, k)
 * const y = matMulNT(x, w); // (m, n) = x · wᵀ
 * ```
 */
export function matMulNT(
  a: tf.Tensor2D,
  w: tf.Tensor2D,
  options: { bias?: tf.Tensor1D; precision?: MatMulPrecision } = {},
): tf.Tensor2D {
  const precision = options.precision ?? "f32";
  const bias = options.bias;
  check(a, w, bias, precision);
  // The gradient needs the forward's inputs: they are saved on the tape (a
  // closure would see them disposed once the caller's tidy ends).
  type T = tf.Tensor | tf.GradSaveFunc;
  const f = tf.customGrad((...args: T[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [x, wt, b] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D?];
    save([x, wt]);
    return {
      value: forward(x, wt, bias ? b : undefined, precision), // (m, n)
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const [da, dw] = grads(dy as tf.Tensor2D, xs, ws);
        return bias ? [da, dw, tf.sum(dy, 0)] : [da, dw];
      },
    };
  });
  return (bias ? f(a, w, bias) : f(a, w)) as tf.Tensor2D;
}
