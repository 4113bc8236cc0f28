/**
 * Fused RMSNorm / LayerNorm over the last axis on the tfjs "webgpu" backend:
 * one WGSL dispatch per norm (one workgroup per row) in place of the 6–10
 * tfjs ops of the composed version, and a fused residual-add + norm variant
 * returning both the sum and its normalisation. Gradients are registered
 * with tfjs (one WGSL dispatch and one or two sums).
 *
 * Reference: Hugging Face `MambaRMSNorm` (x · rsqrt(mean(x²) + eps) · w);
 * `torch.nn.LayerNorm`; state-spaces/mamba `ops/triton/layer_norm.py`
 * (`layer_norm_fn` with `residual`, `prenorm=True`).
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
import { normBackwardShader, normForwardShader } from "./_wgsl_norm.ts";

/** Name of the norm kernel: inputs [x, w, (bias)], output y. */
export const NORM_FWD = "MambaNorm";
/** Name of the add + norm kernel: inputs [x, res, w, (bias)], outputs [y, sum]. */
export const ADD_NORM_FWD = "MambaAddNorm";
/** Name of the backward kernel: inputs [x, w, dy, (ds)], outputs [gx, dy·x̂]. */
export const NORM_BWD = "MambaNormGrad";

/** Which norm: the DSL's node kinds. */
export type NormKind = "rms_norm" | "layer_norm";

/** Options of {@linkcode webgpuNorm} and {@linkcode webgpuAddNorm}. */
export interface NormOptions {
  /** RMSNorm (no centring, no bias) or LayerNorm. */
  kind: NormKind;
  /** Added to the mean square (variance) before the rsqrt. */
  eps: number;
}

type Info = tf.TensorInfo;

/** Attributes of the norm kernels. */
export interface NormAttrs {
  layer: boolean;
  eps: number;
  hasBias: boolean;
  hasDs?: boolean;
}

function epsBits(eps: number): number {
  return new Uint32Array(new Float32Array([eps]).buffer)[0];
}

/** @returns rows of the last axis of x. */
const rowsOf = (x: Info) => x.shape.slice(0, -1).reduce((p, q) => p * q, 1);

/** Uniforms and a workgroup grid of one workgroup per row. */
function launch(device: GPUDevice, rows: number, d: number, a: NormAttrs) {
  const groups = groupGrid(device, rows);
  const uni = [
    rows,
    d,
    +a.layer,
    +a.hasBias,
    epsBits(a.eps),
    +!!a.hasDs,
    groups[0],
  ];
  return { uni, groups };
}

function forwardKernel(
  residual: boolean,
): (args: { inputs: unknown; attrs?: unknown }) => Info | Info[] {
  return ({ inputs, attrs }) => {
    const backend = webgpuBackend();
    const a = attrs as NormAttrs;
    const list = inputs as Info[];
    const x = list[0];
    const [res, w, bias] = residual
      ? list.slice(1)
      : [undefined, ...list.slice(1)];
    const y = allocate(backend, x.shape);
    const sum = residual ? allocate(backend, x.shape) : undefined;
    const outs = sum ? [y, sum] : [y];
    const ins = res ? [x, res, w!, bias ?? w!] : [x, w!, bias ?? w!];
    const d = x.shape[x.shape.length - 1];
    const l = normForwardLaunch(backend.device, rowsOf(x), d, residual, a);
    dispatchLaunch(backend, l, [...outs, ...ins]);
    return sum ? outs : y;
  };
}

/**
 * The forward dispatch of a norm over rows of d floats, one workgroup per
 * row. Storage bindings: y, [sum = x + res when `residual`], x, [res],
 * weight, bias (any buffer without one).
 *
 * @param device the device (its grid limit).
 * @param rows rows.
 * @param d row width.
 * @param residual whether a residual is added first.
 * @param a the norm's kind, eps and bias flag.
 * @returns the launch.
 */
export function normForwardLaunch(
  device: GPUDevice,
  rows: number,
  d: number,
  residual: boolean,
  a: NormAttrs,
): Launch {
  const { uni, groups } = launch(device, rows, d, a);
  return {
    key: `mamba_norm_fwd_${residual}`,
    wgsl: () => normForwardShader(residual),
    uniforms: uni,
    groups,
  };
}

function backwardKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const a = attrs as NormAttrs;
  const [x, w, dy, ds] = inputs as Info[];
  const gx = allocate(backend, x.shape);
  const gwRow = allocate(backend, x.shape);
  const d = x.shape[x.shape.length - 1];
  const { uni, groups } = launch(backend.device, rowsOf(x), d, a);
  const p = pipeline(backend.device, "mamba_norm_bwd", normBackwardShader);
  dispatch(backend, p, [gx, gwRow, x, w, dy, ds ?? dy], uni, groups);
  return [gx, gwRow];
}

/**
 * Gradients to (x, w, bias) of y = norm(x) given dy, plus ds (a gradient
 * reaching x directly: the residual sum's own) when given.
 */
function normGrads(
  x: tf.Tensor,
  w: tf.Tensor,
  dy: tf.Tensor,
  ds: tf.Tensor | undefined,
  attrs: NormAttrs,
): tf.Tensor[] {
  const [gx, gwRow] = tf.engine().runKernel(
    NORM_BWD,
    (ds ? [x, w, dy, ds] : [x, w, dy]) as unknown as tf.NamedTensorMap,
    { ...attrs, hasDs: !!ds } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
  const d = x.shape[x.rank - 1];
  const gw = tf.sum(gwRow.reshape([-1, d]), 0).reshape(w.shape);
  const out = [gx, gw];
  if (attrs.hasBias) out.push(tf.sum(dy.reshape([-1, d]), 0));
  return out;
}

let registered = false;
function ensureRegistered(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernels([
    [NORM_FWD, forwardKernel(false)],
    [ADD_NORM_FWD, forwardKernel(true)],
    [NORM_BWD, backwardKernel],
  ]);
  tf.registerGradient({
    kernelName: NORM_FWD,
    saveAllInputs: true,
    gradFunc: ((dy: tf.Tensor, saved: tf.Tensor[], attrs: NormAttrs) => {
      const [x, w] = saved;
      return gradMap(normGrads(x, w, dy, undefined, attrs));
    }) as unknown as tf.GradConfig["gradFunc"],
  });
  tf.registerGradient({
    kernelName: ADD_NORM_FWD,
    saveAllInputs: true,
    outputsToSave: [false, true],
    gradFunc: ((dy: tf.Tensor[], saved: tf.Tensor[], attrs: NormAttrs) => {
      const [, , w] = saved;
      const sum = saved[saved.length - 1];
      const [gs, ...rest] = normGrads(sum, w, dy[0], dy[1], attrs);
      return gradMap([gs, gs.clone(), ...rest]);
    }) as unknown as tf.GradConfig["gradFunc"],
  });
}

function check(
  what: string,
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor | undefined,
  options: NormOptions,
): NormAttrs {
  const d = x.shape[x.rank - 1];
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== d)) {
      throw new Error(
        `${what}: ${name}: expected shape [${d}] (x's last axis), received [${t.shape}]`,
      );
    }
  }
  if (options.kind !== "rms_norm" && options.kind !== "layer_norm") {
    throw new Error(
      `${what}: kind: expected "rms_norm" or "layer_norm", received "${options.kind}"`,
    );
  }
  if (!(options.eps >= 0)) {
    throw new Error(
      `${what}: eps: expected a non-negative number, received ${options.eps}`,
    );
  }
  webgpuBackend();
  ensureRegistered();
  return {
    layer: options.kind === "layer_norm",
    eps: options.eps,
    hasBias: !!bias,
  };
}

/**
 * RMSNorm (x · rsqrt(mean(x²) + eps) · w) or LayerNorm
 * ((x − mean) · rsqrt(var + eps) · w + bias) over the last axis on the
 * WebGPU backend, in one dispatch; differentiable (registered gradient).
 *
 * @param inputs x (…, d), weight (d), optional bias (d).
 * @param options the norm's kind and eps.
 * @returns y (…, d).
 * @throws Error naming a weight or bias of the wrong shape, or when the
 *   backend is not "webgpu".
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { webgpuNorm } from "./norm.ts";
 * await setBackend("webgpu");
 * const y = webgpuNorm(
 *   { x: tf.randomNormal([2, 5, 8]), weight: tf.ones([8]) },
 *   { kind: "rms_norm", eps: 1e-5 },
 * ); // (2, 5, 8)
 * ```
 */
export function webgpuNorm(
  inputs: { x: tf.Tensor; weight: tf.Tensor; bias?: tf.Tensor },
  options: NormOptions,
): tf.Tensor {
  const { x, weight, bias } = inputs;
  const attrs = check("webgpuNorm", x, weight, bias, options);
  return tf.engine().runKernel(
    NORM_FWD,
    (bias ? [x, weight, bias] : [x, weight]) as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

/**
 * Residual add + norm in one dispatch: sum = x + residual, y = norm(sum),
 * as a pre-norm block needs (the sum is the next residual stream, y the
 * next mixer's input); differentiable (registered gradient).
 *
 * @param inputs x (…, d), residual (…, d), weight (d), optional bias (d).
 * @param options the norm's kind and eps.
 * @returns y = norm(x + residual) and sum = x + residual, both (…, d).
 * @throws Error naming the input of the wrong shape, or when the backend is
 *   not "webgpu".
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { webgpuAddNorm } from "./norm.ts";
 * await setBackend("webgpu");
 * const { y, sum } = webgpuAddNorm(
 *   { x: tf.ones([2, 8]), residual: tf.ones([2, 8]), weight: tf.ones([8]) },
 *   { kind: "layer_norm", eps: 1e-5 },
 * );
 * ```
 */
export function webgpuAddNorm(
  inputs: {
    x: tf.Tensor;
    residual: tf.Tensor;
    weight: tf.Tensor;
    bias?: tf.Tensor;
  },
  options: NormOptions,
): { y: tf.Tensor; sum: tf.Tensor } {
  const { x, residual, weight, bias } = inputs;
  if (x.shape.join() !== residual.shape.join()) {
    throw new Error(
      `webgpuAddNorm: residual: expected shape [${x.shape}], received [${residual.shape}]`,
    );
  }
  const attrs = check("webgpuAddNorm", x, weight, bias, options);
  const list = [x, residual, weight, ...(bias ? [bias] : [])];
  const [y, sum] = tf.engine().runKernel(
    ADD_NORM_FWD,
    list as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
  return { y, sum };
}
