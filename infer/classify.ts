/**
 * Class probabilities for token-id inputs, each input on its own.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { fitIds } from "../train/data/batches.ts";
import { GpuForwardCache } from "./gpu_forward.ts";
import { programForward, programGpuUnsupported } from "./_program_gpu.ts";

const prebuilt = new WeakMap<MambaModel, GpuForwardCache>();

/**
 * One input's probabilities (1, c): on webgpu the prebuilt forward, or the
 * program's executor for a model it declines; else `model.forward`.
 */
function classifyOne(model: MambaModel, ids: number[]): tf.Tensor {
  if (programGpuUnsupported(model) === null) {
    const probs = programForward(model, [ids]);
    if (probs) return probs;
  } else if (tf.getBackend() === "webgpu") {
    let cache = prebuilt.get(model);
    if (!cache) prebuilt.set(model, cache = new GpuForwardCache(model));
    const probs = cache.run(ids.length, (fwd) => fwd.classify([ids]));
    if (probs) return probs;
  }
  return model.forward([ids]);
}

/** One class's name and score for one input. */
export interface LabelScore {
  /** The class name from the classifier's `labels`, else its index as text. */
  label: string;
  /** Its probability (a raw score when the head's activation is "none"). */
  score: number;
}

/**
 * Each class's name and score for one output row of a classifier. A single
 * sigmoid output is P(class 1), so it becomes two classes: class 0 with
 * 1 − p and class 1 with p.
 *
 * @param model a classifier-head model (its `labels`, when saved, name the classes).
 * @param row one input's output, (c) — a row of {@linkcode classifyRows}.
 * @returns one entry per class, in class order.
 * @example
 * ```ts
 * import { labelScores } from "./classify.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * labelScores(model, [0.25]); // [{label: "ham", score: 0.75}, {label: "spam", score: 0.25}] with labels ["ham", "spam"]
 * ```
 */
export function labelScores(model: MambaModel, row: number[]): LabelScore[] {
  const head = model.architecture.nodes[model.architecture.nodes.length - 1];
  if (head.kind !== "classifier") {
    throw new Error(
      `labelScores: expected a classifier model, received a ${head.kind} head`,
    );
  }
  const name = (c: number) => head.labels?.[c] ?? String(c);
  if (head.activation === "sigmoid" && head.classes === 1) {
    return [
      { label: name(0), score: 1 - row[0] },
      { label: name(1), score: row[0] },
    ];
  }
  return row.map((score, c) => ({ label: name(c), score }));
}

/**
 * Class probabilities, one input at a time (each alone: no padding between
 * inputs). A model with a fixed sequence length (`seqLen` in its
 * architecture) sees each input the way training fed it
 * (`fitIds` with training's default sides): cut to the first `seqLen`
 * tokens, then padded on the left with `padId` — for mean pooling the pads
 * are part of what the model learned to average. On webgpu the backbone runs
 * as a prebuilt forward per input length (`GpuForward`, sharing the model's
 * weights; the last four lengths kept per model), the head as tfjs ops; a
 * model it declines (Mamba-2, Falcon-Mamba, mixed stacks) runs through the
 * program's WebGPU executor per input length, head included (the last eight
 * executors kept per model), or as tfjs ops where the executor refuses.
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
