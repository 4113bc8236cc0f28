/**
 * Class probabilities for token-id inputs, each input on its own.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { fitIds } from "../train/data/batches.ts";
import { GpuForwardCache } from "./gpu_forward.ts";

const prebuilt = new WeakMap<MambaModel, GpuForwardCache>();

/** One input's probabilities (1, c): prebuilt on webgpu, else `model.forward`. */
function classifyOne(model: MambaModel, ids: number[]): tf.Tensor {
  if (tf.getBackend() === "webgpu") {
    let cache = prebuilt.get(model);
    if (!cache) prebuilt.set(model, cache = new GpuForwardCache(model));
    const probs = cache.run(ids.length, (fwd) => fwd.classify([ids]));
    if (probs) return probs;
  }
  return model.forward([ids]);
}

/**
 * Class probabilities, one input at a time (each alone: no padding between
 * inputs). A model with a fixed sequence length (`seqLen` in its
 * architecture) sees each input the way training fed it
 * (`fitIds` with training's default sides): cut to the first `seqLen`
 * tokens, then padded on the left with `padId` — for mean pooling the pads
 * are part of what the model learned to average. On webgpu the backbone runs
 * as a prebuilt forward per input length (`GpuForward`, sharing the model's
 * weights; the last four lengths kept per model), the head as tfjs ops.
 *
 * @param model a classifier-head model.
 * @param rows token-id lists.
 * @param options `padId`: the tokenizer's pad id (default 0).
 * @returns (rows, c) probabilities (raw scores when the head's activation is "none").
 */
export async function classifyRows(
  model: MambaModel,
  rows: number[][],
  options: { padId?: number } = {},
): Promise<number[][]> {
  const seqLen = model.resolved.seqLen;
  const out: number[][] = [];
  for (const row of rows) {
    const ids = seqLen === undefined
      ? row
      : fitIds(row, options.padId ?? 0, { seqLen });
    const probs = classifyOne(model, ids); // (1, c)
    out.push(Array.from(await probs.data()));
    probs.dispose();
    await new Promise((r) => setTimeout(r, 0));
  }
  return out;
}
