/**
 * The selective scan on the tfjs "webgpu" backend through hand-written WGSL:
 * {@linkcode webgpuSelectiveScan} (prefill / training, with gradients) and
 * {@linkcode webgpuScanStep} (one decode step).
 *
 * Reference: state-spaces/mamba `selective_scan_fn` (fused CUDA forward and
 * backward) and `selective_state_update` (decode step).
 *
 * @module
 */
import { tf } from "../backend.ts";
import type { ScanInputs, ScanOptions, ScanResult } from "../scan_types.ts";
import type { ScanStepInputs } from "../scan_step.ts";
import {
  backwardBatchRows,
  checkpointInterval,
  registerScanKernels,
  SCAN_BWD,
  SCAN_FWD,
  SCAN_STEP,
  type ScanFlags,
} from "./scan_kernels.ts";
import { gradMap } from "./_register.ts";
import { isCpuZeros, webgpuBackend } from "./_dispatch.ts";

function expectShape(
  name: string,
  t: tf.Tensor | undefined,
  shape: number[],
): void {
  if (!t) return;
  if (
    t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])
  ) {
    throw new Error(
      `webgpuSelectiveScan: ${name}: expected shape [${shape}], received [${t.shape}]`,
    );
  }
}

/**
 * Packs [A | D | Δ bias] into P (dIn, n+2), the scan kernels' parameter
 * input. A missing column is `tf.fill`ed (a GPU kernel), not `tf.zeros`
 * (built on the CPU, then uploaded).
 *
 * @param A (dIn, n), the negative decay rates.
 * @param D (dIn) skip weights, if any.
 * @param bias (dIn) Δ bias, if any.
 * @returns P.
 */
export function packScanParams(
  A: tf.Tensor2D,
  D: tf.Tensor1D | undefined,
  bias: tf.Tensor1D | undefined,
): tf.Tensor2D {
  const dIn = A.shape[0];
  const col = (t: tf.Tensor1D | undefined) =>
    t ? t.reshape([dIn, 1]) : tf.fill([dIn, 1], 0);
  return tf.concat([A, col(D), col(bias)], 1) as tf.Tensor2D;
}

function tapeOn(): boolean {
  const state = (tf.engine() as unknown as {
    state: { gradientDepth: number; kernelDepth: number };
  }).state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/**
 * Selective scan on the WebGPU backend: fused WGSL forward (Δ bias +
 * softplus, D skip, SiLU(z) gate, initial and final state) whose gradient
 * (registered with tfjs, so `tf.grads` and optimizers use it) is computed by
 * WGSL backward kernels that recompute states from checkpoints.
 *
 * @param inputs u, delta, A, B, C and the optional D, z, deltaBias,
 *   deltaSoftplus, initialState (shapes on {@linkcode ScanInputs}).
 * @param options `returnState` also returns the final state (b, dIn, n);
 *   `impl` and `chunkSize` are ignored here.
 * @returns y (b, l, dIn) and, if asked, the final state.
 * @throws Error naming the input whose shape is wrong, or when the active
 *   backend is not "webgpu".
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { webgpuSelectiveScan } from "./selective_scan_webgpu.ts";
 * await setBackend("webgpu");
 * const [b, l, dIn, n] = [1, 8, 4, 2];
 * const { y } = webgpuSelectiveScan({
 *   u: tf.ones([b, l, dIn]), delta: tf.fill([b, l, dIn], 0.1),
 *   A: tf.fill([dIn, n], -1), B: tf.ones([b, l, n]), C: tf.ones([b, l, n]),
 * });
 * ```
 */
export function webgpuSelectiveScan(
  inputs: ScanInputs,
  options: ScanOptions = {},
): ScanResult {
  ensureRegistered();
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = inputs;
  const [b, l, dIn] = u.shape;
  const n = A.shape[1];
  expectShape("delta", delta, [b, l, dIn]);
  expectShape("A", A, [dIn, n]);
  expectShape("B", B, [b, l, n]);
  expectShape("C", C, [b, l, n]);
  expectShape("D", D, [dIn]);
  expectShape("z", z, [b, l, dIn]);
  expectShape("deltaBias", deltaBias, [dIn]);
  expectShape("initialState", initialState, [b, dIn, n]);
  if (tf.getBackend() !== "webgpu") {
    throw new Error(
      `webgpuSelectiveScan: expected the "webgpu" backend, received "${tf.getBackend()}"`,
    );
  }
  const flags: ScanFlags = {
    hasD: !!D,
    hasZ: !!z,
    hasBias: !!deltaBias,
    softplus: !!inputs.deltaSoftplus,
    hasInit: !!initialState,
  };
  return tf.tidy(() => {
    const P = packScanParams(A, D, deltaBias); // (dIn, n + 2)
    const list = [u, delta, P, B, C];
    if (z) list.push(z);
    if (initialState) list.push(initialState);
    const K = tapeOn() ? checkpointInterval() : 0;
    const [y, state] = tf.engine().runKernel(
      SCAN_FWD,
      list as unknown as tf.NamedTensorMap,
      { ...flags, K } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    return options.returnState
      ? { y: y as tf.Tensor3D, state: state as tf.Tensor3D }
      : { y: y as tf.Tensor3D };
  });
}

/**
 * Gradient of the forward kernel: one {@linkcode SCAN_BWD} call. `dyState`
 * is usually tfjs's CPU-built zeros (the loss ignores the final state); the
 * kernel recognises those and does not upload them.
 */
function scanGrad(
  dy: tf.Tensor | tf.Tensor[],
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
): Record<string, () => tf.Tensor> {
  const flags = attrs as unknown as ScanFlags & { K: number };
  const [dyY, dyState] = dy as tf.Tensor[];
  const ckpt = saved[saved.length - 1];
  const ins = saved.slice(0, -1);
  if (flags.K === 0) {
    throw new Error(
      "webgpuSelectiveScan: gradient asked for a forward run without checkpoints",
    );
  }
  const kin = [...ins.slice(0, flags.hasZ ? 6 : 5), ckpt, dyY, dyState];
  const [b, l, dIn] = ins[0].shape;
  const rows = backwardBatchRows(l, dIn, ins[2].shape[1]! - 2);
  const run = (x: tf.Tensor[]) =>
    tf.engine().runKernel(
      SCAN_BWD,
      x as unknown as tf.NamedTensorMap,
      attrs,
    ) as tf.Tensor[];
  // Too many rows for one call's ∂B/∂C partials: calls over batch slices
  // (P, input 2, is shared), their gradients joined, ∂P summed. tfjs's CPU
  // zeros (an unused output's gradient) are sliced as new CPU zeros, so the
  // kernel still recognises them; each call's input slices are freed once it
  // has run, its gradients once joined (not at the end of the whole backward).
  const [gu, gdl, gz, gP, gB, gC, gh0] = rows >= b ? run(kin) : tf.tidy(() => {
    const backend = webgpuBackend();
    const parts: tf.Tensor[][] = [];
    for (let b0 = 0; b0 < b; b0 += rows) {
      const n = Math.min(rows, b - b0);
      parts.push(
        tf.tidy(() =>
          run(
            kin.map((t, i) =>
              i === 2
                ? t
                : isCpuZeros(backend, t)
                ? tf.zeros([n, ...t.shape.slice(1)])
                : tf.slice(t, b0, n)
            ),
          )
        ),
      );
    }
    // Unused outputs (gz without z, gh0 without an initial state) are not joined.
    const join = (k: number, used = true) =>
      used ? tf.concat(parts.map((p) => p[k])) : parts[0][k];
    return [
      join(0),
      join(1),
      join(2, flags.hasZ),
      tf.addN(parts.map((p) => p[3])),
      join(4),
      join(5),
      join(6, flags.hasInit),
    ];
  });
  const grads: tf.Tensor[] = [gu, gdl, gP, gB, gC];
  if (flags.hasZ) grads.push(gz);
  if (flags.hasInit) grads.push(gh0);
  return gradMap(grads);
}

let registered = false;
function ensureRegistered(): void {
  if (registered) return;
  registered = true;
  registerScanKernels(scanGrad as unknown as tf.GradConfig["gradFunc"]);
}

/**
 * One recurrent step on the WebGPU backend (decode), one WGSL dispatch.
 *
 * @param inputs the step's inputs (shapes on {@linkcode ScanStepInputs}).
 * @returns y (b, dIn) and the new state (b, dIn, n).
 * @example
 * ```ts
 * import { setBackend, tf } from "../backend.ts";
 * import { webgpuScanStep } from "./selective_scan_webgpu.ts";
 * await setBackend("webgpu");
 * const { y, state } = webgpuScanStep({
 *   u: tf.ones([1, 2]), delta: tf.fill([1, 2], 0.1), A: tf.fill([2, 4], -1),
 *   B: tf.ones([1, 4]), C: tf.ones([1, 4]), state: tf.zeros([1, 2, 4]),
 * });
 * ```
 */
export function webgpuScanStep(
  inputs: ScanStepInputs,
): { y: tf.Tensor2D; state: tf.Tensor3D } {
  ensureRegistered();
  const { u, delta, A, B, C, D, z, deltaBias, state } = inputs;
  const [b, dIn] = u.shape;
  const n = A.shape[1];
  expectShape("step delta", delta, [b, dIn]);
  expectShape("step B", B, [b, n]);
  expectShape("step C", C, [b, n]);
  expectShape("step z", z, [b, dIn]);
  expectShape("step state", state, [b, dIn, n]);
  const flags: ScanFlags = {
    hasD: !!D,
    hasZ: !!z,
    hasBias: !!deltaBias,
    softplus: !!inputs.deltaSoftplus,
    hasInit: true,
  };
  return tf.tidy(() => {
    const P = packScanParams(A, D, deltaBias);
    const list = [u, delta, P, B, C, ...(z ? [z] : []), state];
    const [y, h] = tf.engine().runKernel(
      SCAN_STEP,
      list as unknown as tf.NamedTensorMap,
      flags as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    return { y: y as tf.Tensor2D, state: h as tf.Tensor3D };
  });
}

/**
 * Registers the WebGPU scan kernels with tfjs (done on first use too).
 */
export function registerWebGPUScan(): void {
  ensureRegistered();
}

export { SCAN_BWD, SCAN_FWD, SCAN_STEP };
