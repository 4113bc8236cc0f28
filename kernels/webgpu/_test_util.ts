/**
 * Helpers shared by the WGSL kernels' tests (and the GPU bench's oracle
 * check): the relative error they all measure, the
 * gradients of a loss with respect to a subset of its inputs, and runs on
 * the webgpu backend with NaN-poisoned outputs.
 *
 * Reference: the tests beside each kernel (`conv1d_test.ts`, `norm_test.ts`,
 * `selective_scan_webgpu_test.ts`, `tests/_webgpu_scan.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../backend.ts";
import { setPoisonOutputs } from "./_dispatch.ts";

/**
 * Relative error max |got − want| / max |want| over the whole tensor;
 * Infinity when any got is NaN or infinite. Where want is all zeros the
 * denominator is 1e-30, so got must be zero too.
 *
 * @param got the values under test.
 * @param want the oracle's, of the same length.
 * @returns the error.
 */
export function relErr(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): number {
  assert.equal(got.length, want.length);
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    num = Number.isNaN(e) ? Infinity : Math.max(num, e);
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / Math.max(den, 1e-30);
}

/**
 * Gradients of `loss(all)` with respect to `ins[i]` for each i in `used`,
 * where `all` is `ins` with those entries traced.
 *
 * @param ins every input of the op.
 * @param used the indices of the inputs to differentiate.
 * @param loss a scalar of all the inputs.
 * @returns one gradient per entry of `used`, in its order.
 */
export function gradsAt(
  ins: tf.Tensor[],
  used: number[],
  loss: (all: tf.Tensor[]) => tf.Tensor,
): tf.Tensor[] {
  return tf.grads((...xs: tf.Tensor[]) => {
    const all = [...ins];
    used.forEach((i, n) => all[i] = xs[n]);
    return loss(all);
  })(used.map((i) => ins[i]));
}

/**
 * Runs `fn` on the webgpu backend with every kernel output filled with NaN
 * first (an element a kernel leaves unwritten then fails the test), and
 * turns the poisoning off afterwards.
 *
 * @param fn the test body.
 */
export async function onPoisonedWebGPU(fn: () => Promise<void>): Promise<void> {
  await setBackend("webgpu");
  setPoisonOutputs(true);
  try {
    await fn();
  } finally {
    setPoisonOutputs(false);
  }
}
