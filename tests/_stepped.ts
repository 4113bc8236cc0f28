/**
 * Private test helper: the logits of a model fed by a parallel prefill of the
 * first tokens (or none), then one recurrent step per token, laid out as the parallel
 * forward's (b, l, v), to compare with it.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";

/**
 * @param model the model.
 * @param ids (b, l) token ids, rows of equal length.
 * @param split tokens prefilled in parallel (0: none, stepping from the
 *   zero state); the rest are stepped one at a time.
 * @returns (b, l, v) logits, v the padded vocabulary; every tensor disposed.
 */
export async function prefillThenStepLogits(
  model: MambaModel,
  ids: number[][],
  split: number,
): Promise<Float32Array> {
  const [b, l, v] = [ids.length, ids[0].length, model.resolved.paddedVocab];
  const stepped = new Float32Array(b * l * v);
  let state;
  if (split > 0) {
    const pre = model.prefill(ids.map((r) => r.slice(0, split)));
    const preData = await pre.logits.data();
    pre.logits.dispose();
    for (let i = 0; i < b; i++) {
      stepped.set(
        preData.subarray(i * split * v, (i + 1) * split * v),
        i * l * v,
      );
    }
    state = pre.state;
  } else state = model.initialState(b);
  for (let t = split; t < l; t++) {
    const out = model.step(ids.map((r) => r[t]), state);
    tf.dispose(state);
    state = out.state;
    const data = await out.logits.data();
    out.logits.dispose();
    for (let i = 0; i < b; i++) {
      stepped.set(data.subarray(i * v, (i + 1) * v), (i * l + t) * v);
    }
  }
  tf.dispose(state);
  return stepped;
}
