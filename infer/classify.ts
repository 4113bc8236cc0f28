/**
 * Class probabilities for token-id inputs, each input on its own.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { fitIds } from "../train/data/batches.ts";
import { GpuForward, gpuForwardUnsupported } from "./gpu_forward.ts";

/** Input lengths whose prebuilt forward is kept per model (webgpu). */
const PREBUILT_LENGTHS = 4;
const prebuilt = new WeakMap<MambaModel, Map<number, GpuForward>>();

/**
 * On webgpu, a prebuilt forward for (1, length) sharing the model's weights
 * (the last few lengths kept, least recently used dropped); null elsewhere,
 * or when the input does not fit one storage binding (tfjs ops then).
 */
function prebuiltFor(model: MambaModel, length: number): GpuForward | null {
  if (tf.getBackend() !== "webgpu" || gpuForwardUnsupported(model)) {
    return null;
  }
  let byLength = prebuilt.get(model);
  if (!byLength) prebuilt.set(model, byLength = new Map());
  let fwd = byLength.get(length);
  byLength.delete(length); // re-inserted as the most recent
  if (!fwd) {
    if (byLength.size >= PREBUILT_LENGTHS) {
      const [oldest, old] = byLength.entries().next().value!;
      old.dispose();
      byLength.delete(oldest);
    }
    try {
      fwd = new GpuForward(model, { batch: 1, length, weights: "share" });
    } catch (error) {
      if (!String(error).includes("storage binding")) throw error;
      return null;
    }
  }
  byLength.set(length, fwd);
  return fwd;
}

/** One input's probabilities (1, c): prebuilt on webgpu, else `model.forward`. */
function classifyOne(model: MambaModel, ids: number[]): tf.Tensor {
  const fwd = prebuiltFor(model, ids.length);
  if (!fwd) return model.forward([ids]);
  try {
    return fwd.classify([ids]);
  } catch (error) {
    // Built before a weight was reassigned (training in between): anew, once.
    if (!String(error).includes("after this forward was built")) throw error;
    fwd.dispose();
    prebuilt.get(model)!.delete(ids.length);
    return prebuiltFor(model, ids.length)!.classify([ids]);
  }
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
