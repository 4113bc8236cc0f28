/**
 * One recurrent step of the selective scan, for decoding: O(1) in the
 * sequence length. Made of tfjs ops, so it runs on every backend.
 *
 * Dimension letters: `b` batch, `dIn` inner width, `n` state size.
 *
 * Reference: state-spaces/mamba `ops/triton/selective_state_update.py`
 * (`selective_state_update_ref`).
 *
 * @module
 */
import { tf } from "./backend.ts";
import { softplus } from "./_softplus.ts";

/** Inputs of one scan step: the scan's inputs at a single time step. */
export interface ScanStepInputs {
  /** (b, dIn) input. */
  u: tf.Tensor2D;
  /** (b, dIn) time step Δ (before bias and softplus when asked for). */
  delta: tf.Tensor2D;
  /** (dIn, n) state matrix, already negative. */
  A: tf.Tensor2D;
  /** (b, n) */
  B: tf.Tensor2D;
  /** (b, n) */
  C: tf.Tensor2D;
  /** (dIn) skip. */
  D?: tf.Tensor1D;
  /** (b, dIn) gate: y ← y · SiLU(z). */
  z?: tf.Tensor2D;
  /** (dIn) added to Δ before the softplus. */
  deltaBias?: tf.Tensor1D;
  /** Apply softplus(Δ + deltaBias). */
  deltaSoftplus?: boolean;
  /** (b, dIn, n) state after the previous step. */
  state: tf.Tensor3D;
}

/**
 * h ← exp(Δ A) h + Δ u B;  y = C·h + D u;  y ← y · SiLU(z).
 *
 * @param inputs the step's inputs (shapes on {@linkcode ScanStepInputs}).
 * @returns y (b, dIn) and the new state (b, dIn, n); the old state is kept.
 * @example
 * ```ts
 * import { tf } from "./backend.ts";
 * import { selectiveScanStep } from "./scan_step.ts";
 * const { y, state } = selectiveScanStep({
 *   u: tf.ones([1, 2]), delta: tf.fill([1, 2], 0.1), A: tf.fill([2, 4], -1),
 *   B: tf.ones([1, 4]), C: tf.ones([1, 4]), state: tf.zeros([1, 2, 4]),
 * });
 * ```
 */
export function selectiveScanStep(
  inputs: ScanStepInputs,
): { y: tf.Tensor2D; state: tf.Tensor3D } {
  return tf.tidy(() => {
    const { u, A, B, C, D, z, state } = inputs;
    const [b, dIn] = u.shape;
    const n = A.shape[1];
    let delta: tf.Tensor = inputs.delta;
    if (inputs.deltaBias) delta = tf.add(delta, inputs.deltaBias);
    if (inputs.deltaSoftplus) delta = softplus(delta);
    const d3 = delta.reshape([b, dIn, 1]); // (b, dIn, 1)
    const decay = tf.exp(tf.mul(d3, A)); // (b, dIn, n)
    const drive = tf.mul(
      tf.mul(d3, u.reshape([b, dIn, 1])),
      B.reshape([b, 1, n]),
    ); // (b, dIn, n)
    const next = tf.add(tf.mul(decay, state), drive) as tf.Tensor3D; // (b, dIn, n)
    let y: tf.Tensor = tf.sum(tf.mul(next, C.reshape([b, 1, n])), 2); // (b, dIn)
    if (D) y = tf.add(y, tf.mul(u, D));
    if (z) y = tf.mul(y, tf.mul(z, tf.sigmoid(z)));
    return { y: y as tf.Tensor2D, state: next };
  });
}
