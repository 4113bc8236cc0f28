/**
 * One recurrent step of the Mamba-2 SSD, for decoding: O(1) in the sequence
 * length. Made of tfjs ops, so it runs on every backend.
 *
 * Letters as in `ssd_types.ts`. Note on the time-step limit: the official
 * `Mamba2.step` and transformers' decode do not clamp Δ' to
 * `time_step_limit` (their parallel forward does); to match them, leave
 * `dtLimit` unset here.
 *
 * Reference: state-spaces/mamba `ops/triton/selective_state_update.py`
 * (`selective_state_update_ref`, scalar A per head); transformers
 * `Mamba2Mixer.torch_forward` (decode branch).
 *
 * @module
 */
import { tf } from "./backend.ts";
import { checkHeadsAndDt, expectShape, processDt } from "./_ssd_common.ts";
import type { SsdStepInputs, SsdStepResult } from "./ssd_types.ts";

/** Checks every shape against x's (b, h, p) and B's (g, n). */
function checkInputs(inputs: SsdStepInputs): void {
  const w = "ssdStep";
  const { x, dt, A, B, C, D, dtBias, state } = inputs;
  if (x.rank !== 3) {
    throw new Error(
      `${w}: x: expected shape (b, h, p), received (${x.shape.join(", ")})`,
    );
  }
  const [b, h, p] = x.shape;
  if (B.rank !== 3) {
    throw new Error(
      `${w}: B: expected shape (b, g, n), received (${B.shape.join(", ")})`,
    );
  }
  const [g, n] = B.shape.slice(1);
  expectShape(`${w}: dt`, dt.shape, [b, h], "(b, h)");
  expectShape(`${w}: A`, A.shape, [h], "(h)");
  expectShape(`${w}: C`, C.shape, [b, g, n], "(b, g, n)");
  if (D) expectShape(`${w}: D`, D.shape, [h], "(h)");
  if (dtBias) expectShape(`${w}: dtBias`, dtBias.shape, [h], "(h)");
  expectShape(`${w}: state`, state.shape, [b, h, p, n], "(b, h, p, n)");
  checkHeadsAndDt(w, h, g, inputs);
}

/**
 * s ← exp(Δ' A) s + Δ' x Bᵀ;  y = s C + D x, per head (B, C of its group).
 *
 * @param inputs the step's inputs (shapes on {@linkcode SsdStepInputs}).
 * @returns y (b, h, p) and the new state (b, h, p, n); the old state is kept.
 * @throws Error naming the field when a shape is wrong.
 * @example
 * ```ts
 * import { tf } from "./backend.ts";
 * import { ssdStep } from "./ssd_step.ts";
 * const [b, h, p, g, n] = [1, 2, 4, 1, 8];
 * const { y, state } = ssdStep({
 *   x: tf.ones([b, h, p]), dt: tf.fill([b, h], 0.1), A: tf.fill([h], -1),
 *   B: tf.ones([b, g, n]), C: tf.ones([b, g, n]), state: tf.zeros([b, h, p, n]),
 * });
 * ```
 *
 * Reference: `selective_state_update_ref` in state-spaces/mamba.
 */
export function ssdStep(inputs: SsdStepInputs): SsdStepResult {
  checkInputs(inputs);
  return tf.tidy(() => {
    const { x, dt, A, B, C, D, state } = inputs;
    const [b, h, p] = x.shape;
    const [g, n] = B.shape.slice(1);
    const k = h / g;
    const ones = tf.ones([1, 1, k, 1]);
    const perHead = (t: tf.Tensor3D) =>
      tf.reshape(tf.mul(tf.reshape(t, [b, g, 1, n]), ones), [b, h, 1, n]); // (b, h, 1, n)
    const dtp = processDt(dt, inputs); // (b, h)
    const decay = tf.reshape(
      tf.exp(tf.minimum(tf.mul(dtp, A), 0)),
      [b, h, 1, 1],
    ); // (b, h, 1, 1)
    const xdt = tf.reshape(tf.mul(x, tf.expandDims(dtp, 2)), [b, h, p, 1]); // (b, h, p, 1)
    const next = tf.add(
      tf.mul(decay, state),
      tf.mul(xdt, perHead(B)),
    ) as tf.Tensor4D; // (b, h, p, n)
    let y: tf.Tensor = tf.sum(tf.mul(next, perHead(C)), 3); // (b, h, p)
    if (D) y = tf.add(y, tf.mul(x, tf.reshape(D, [h, 1])));
    return { y: y as tf.Tensor3D, state: next };
  });
}
