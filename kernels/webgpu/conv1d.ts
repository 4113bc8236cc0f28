/**
 * Fused causal depthwise conv1d over time + bias + SiLU on the tfjs "webgpu"
 * backend: one WGSL dispatch in place of the ~15 tfjs ops (concat, k slices,
 * k multiplies, k adds, bias, sigmoid, multiply) of the composed version,
 * with a registered gradient (two WGSL dispatches and a sum).
 *
 * Glossary: `b` batch, `l` length, `dIn` channels, `k` conv width, `W` the
 * last axis of the buffer x is read from.
 *
 * Reference: state-spaces/causal-conv1d (`causal_conv1d_fn` with
 * `activation="silu"`, and its `causal_conv1d_update` history convention);
 * Hugging Face `MambaMixer.slow_forward` (conv1d → SiLU).
 *
 * @module
 */
import { tf } from "../backend.ts";
import {
  allocate,
  dispatch,
  dispatchLaunch,
  groupGrid,
  type Launch,
  pipeline,
  webgpuBackend,
} from "./_dispatch.ts";
import { gradMap, registerWebGPUKernels } from "./_register.ts";
import {
  CONV_WORKGROUP,
  convBackwardShader,
  convForwardShader,
  convWeightGradShader,
  MAX_CONV_K,
} from "./_wgsl_conv1d.ts";

export { MAX_CONV_K };

/** Name of the forward kernel: outputs [u, new history]. */
export const CONV_FWD = "MambaCausalConv1dSilu";
/** Name of the backward kernel: outputs [gx, g history, weight partials]. */
export const CONV_BWD = "MambaCausalConv1dSiluGrad";

/** Rows of b·l summed by one thread of the weight-gradient pass. */
const ROWS_PER_CHUNK = 64;

type Info = tf.TensorInfo;

/** tfjs attrs of both kernels. */
interface ConvAttrs {
  offset: number;
  hasHist: boolean;
  hasBias: boolean;
}

/** Workgroup grid covering n threads. */
function grid(device: GPUDevice, n: number): [number, number, number] {
  return groupGrid(device, Math.ceil(n / CONV_WORKGROUP));
}

/** Splits the kernel inputs [x, weight, (history), (bias), …rest]. */
function unpack(inputs: unknown, attrs: ConvAttrs) {
  const list = inputs as Info[];
  let i = 2;
  const hist = attrs.hasHist ? list[i++] : undefined;
  const bias = attrs.hasBias ? list[i++] : undefined;
  return { x: list[0], w: list[1], hist, bias, rest: list.slice(i) };
}

function sizes(x: Info, w: Info, attrs: ConvAttrs) {
  const [b, l, W] = x.shape;
  const [dIn, , k] = w.shape;
  return { b, l, W, dIn, k, uni: [b, l, dIn, k, W, attrs.offset] };
}

function forwardKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const a = attrs as ConvAttrs;
  const { x, w, hist, bias } = unpack(inputs, a);
  const { b, l, dIn, k, uni } = sizes(x, w, a);
  const u = allocate(backend, [b, l, dIn]);
  const hout = allocate(backend, [b, k - 1, dIn]);
  dispatchLaunch(backend, convForwardLaunch(backend.device, uni, a), [
    u,
    hout,
    x,
    hist ?? w,
    w,
    bias ?? w,
  ]);
  return [u, hout];
}

/**
 * The forward dispatch: u = SiLU(conv(x) + bias) and the new history.
 * Storage bindings: u (b, l, dIn), history out (b, k-1, dIn), x (rows of W
 * floats, channels from `offset`), history in (any buffer without one),
 * weight (dIn, 1, k), bias (any buffer without one).
 *
 * @param device the device (its grid limit).
 * @param dims [b, l, dIn, k, W, offset].
 * @param a whether a bias and an incoming history are bound.
 * @returns the launch.
 */
export function convForwardLaunch(
  device: GPUDevice,
  dims: number[],
  a: { hasBias: boolean; hasHist: boolean },
): Launch {
  const [b, l, dIn, k] = dims;
  const g = grid(device, b * (l + k - 1) * dIn);
  return {
    key: "mamba_conv1d_fwd",
    wgsl: convForwardShader,
    uniforms: [...dims, +a.hasBias, +a.hasHist, 0, 0, g[0]],
    groups: g,
  };
}

function backwardKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const device = backend.device;
  const a = attrs as ConvAttrs;
  const { x, w, hist, bias, rest } = unpack(inputs, a);
  const [du, dh] = rest;
  const { b, l, W, dIn, k, uni } = sizes(x, w, a);
  const flags = [+a.hasBias, +a.hasHist, 1, ROWS_PER_CHUNK];
  const gx = allocate(backend, [b, l, W]);
  const gh = allocate(backend, [b, k - 1, dIn]);
  const gridX = grid(device, b * l * W + b * (k - 1) * dIn);
  const px = pipeline(device, "mamba_conv1d_bwd", convBackwardShader);
  dispatch(
    backend,
    px,
    [gx, gh, x, hist ?? w, w, bias ?? w, du, dh],
    [...uni, ...flags, gridX[0]],
    gridX,
  );
  const nchunk = Math.ceil((b * l) / ROWS_PER_CHUNK);
  const part = allocate(backend, [nchunk, dIn, k + 1]);
  const gridW = grid(device, nchunk * dIn);
  const pw = pipeline(device, "mamba_conv1d_bwd_w", convWeightGradShader);
  dispatch(
    backend,
    pw,
    [part, x, hist ?? w, w, bias ?? w, du],
    [...uni, ...flags, gridW[0]],
    gridW,
  );
  return [gx, gh, part];
}

/** Gradient of {@linkcode CONV_FWD}: {@linkcode CONV_BWD}, then sums. */
function convGrad(
  dy: tf.Tensor | tf.Tensor[],
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
): Record<string, () => tf.Tensor> {
  const a = attrs as unknown as ConvAttrs;
  const [du, dh] = dy as tf.Tensor[];
  const [gx, gh, part] = tf.engine().runKernel(
    CONV_BWD,
    [...saved, du, dh] as unknown as tf.NamedTensorMap,
    attrs,
  ) as tf.Tensor[];
  const [dIn, , k] = saved[1].shape as number[];
  const sums = tf.sum(part, 0); // (dIn, k+1)
  const grads = [gx, sums.slice([0, 0], [dIn, k]).reshape([dIn, 1, k])];
  if (a.hasHist) grads.push(gh);
  else gh.dispose();
  if (a.hasBias) grads.push(sums.slice([0, k], [dIn, 1]).reshape([dIn]));
  return gradMap(grads);
}

let registered = false;
function ensureRegistered(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernels([
    [CONV_FWD, forwardKernel],
    [CONV_BWD, backwardKernel],
  ]);
  tf.registerGradient({
    kernelName: CONV_FWD,
    saveAllInputs: true,
    gradFunc: convGrad as unknown as tf.GradConfig["gradFunc"],
  });
}

/** Inputs of {@linkcode webgpuCausalConv1dSilu}. */
export interface CausalConvInputs {
  /** (b, l, W) buffer holding the conv input at channels [offset, offset + dIn). */
  x: tf.Tensor3D;
  /** (dIn, 1, k) depthwise taps (torch Conv1d layout, groups = dIn). */
  weight: tf.Tensor3D;
  /** (b, k-1, dIn) the k-1 inputs before x; zeros when omitted. */
  history?: tf.Tensor3D;
  /** (dIn) */
  bias?: tf.Tensor1D;
}

function expectShape(name: string, t: tf.Tensor | undefined, want: number[]) {
  if (t && t.shape.join() !== want.join()) {
    throw new Error(
      `webgpuCausalConv1dSilu: ${name}: expected shape [${want}], received [${t.shape}]`,
    );
  }
}

/**
 * u = SiLU(causal depthwise conv1d(concat(history, x)) + bias) on the WebGPU
 * backend, in one dispatch, reading x strided out of a wider buffer (Mamba's
 * in_proj output xz, channels [0, dIn)) so no slice copy is made. Its
 * gradient (to x's whole buffer, the history, the weight and the bias) is
 * registered with tfjs, so `tf.grads` and optimizers use it.
 *
 * @param inputs x (b, l, W), weight (dIn, 1, k), optional history
 *   (b, k-1, dIn) and bias (dIn).
 * @param options `offset`: first channel of x inside its last axis
 *   (default 0).
 * @returns u (b, l, dIn) and the new history (b, k-1, dIn): the last k-1
 *   inputs of concat(history, x).
 * @throws Error naming the input whose shape is wrong, when k exceeds
 *   {@linkcode MAX_CONV_K}, or when the backend is not "webgpu".
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { webgpuCausalConv1dSilu } from "./conv1d.ts";
 * await setBackend("webgpu");
 * const xz = tf.ones([1, 5, 8]); // x is channels 0..3, z 4..7
 * const { u, history } = webgpuCausalConv1dSilu({
 *   x: xz, weight: tf.fill([4, 1, 4], 0.25),
 * }); // u (1, 5, 4), history (1, 3, 4)
 * ```
 */
export function webgpuCausalConv1dSilu(
  inputs: CausalConvInputs,
  options: { offset?: number } = {},
): { u: tf.Tensor3D; history: tf.Tensor3D } {
  const { x, weight, history, bias } = inputs;
  const offset = options.offset ?? 0;
  const [b, , W] = x.shape;
  const [dIn, one, k] = weight.shape;
  if (one !== 1 || !fusedConvSupports(k)) {
    throw new Error(
      `webgpuCausalConv1dSilu: weight: expected shape [dIn, 1, k] with 2 ≤ k ≤ ${MAX_CONV_K}, received [${weight.shape}]`,
    );
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + dIn > W) {
    throw new Error(
      `webgpuCausalConv1dSilu: offset: expected an integer in [0, ${
        W - dIn
      }] (x has ${W} channels, weight ${dIn}), received ${offset}`,
    );
  }
  expectShape("history", history, [b, k - 1, dIn]);
  expectShape("bias", bias, [dIn]);
  webgpuBackend();
  ensureRegistered();
  const list: tf.Tensor[] = [x, weight];
  if (history) list.push(history);
  if (bias) list.push(bias);
  const attrs: ConvAttrs = { offset, hasHist: !!history, hasBias: !!bias };
  const [u, h] = tf.engine().runKernel(
    CONV_FWD,
    list as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
  return { u: u as tf.Tensor3D, history: h as tf.Tensor3D };
}

/**
 * Whether the fused kernel takes a conv width (2 ≤ k ≤ {@linkcode MAX_CONV_K}).
 *
 * @param k the conv width.
 * @returns whether {@linkcode webgpuCausalConv1dSilu} accepts it.
 */
export function fusedConvSupports(k: number): boolean {
  return k >= 2 && k <= MAX_CONV_K;
}
