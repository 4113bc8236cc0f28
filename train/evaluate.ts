/**
 * Evaluation passes: loss, accuracy and F1 for classifiers; loss, perplexity
 * and bits per byte for language models.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import type { TextTokenizer } from "./tokenizers.ts";
import type { LabeledText } from "./data/files.ts";
import { classBatches, type EncodeOptions, lmBatches } from "./data/batches.ts";
import {
  bitsPerByte,
  classificationLoss,
  classMetrics,
  lmLoss,
  perplexity,
  predictClasses,
} from "./metrics.ts";

/** Metrics of one evaluation, by name (`loss`, `accuracy`, `f1`, `ppl`, `bpb`). */
export type EvalMetrics = Record<string, number>;

/**
 * Evaluates a classifier on labelled examples.
 * @param model the model (classifier head).
 * @param examples the examples.
 * @param options tokenizer, encoding, batch size, batch cap (0: all), classes.
 * @returns loss, accuracy, f1.
 */
export async function evaluateClassifier(
  model: MambaModel,
  examples: LabeledText[],
  options: EncodeOptions & {
    tokenizer: TextTokenizer;
    batchSize: number;
    maxBatches: number;
    classes: number;
  },
): Promise<EvalMetrics> {
  const predicted: number[] = [];
  const labels: number[] = [];
  let lossSum = 0;
  let n = 0;
  for (const batch of classBatches(examples, options.tokenizer, options)) {
    if (options.maxBatches > 0 && n >= options.maxBatches) break;
    const scores = model.forward(batch.ids, { raw: true }); // (b, c)
    const loss = classificationLoss(scores, batch.labels);
    lossSum += (await loss.data())[0] * batch.labels.length;
    predicted.push(...(await predictClasses(scores, 0)));
    labels.push(...batch.labels);
    tf.dispose([scores, loss]);
    n++;
  }
  return {
    loss: lossSum / Math.max(1, labels.length),
    ...classMetrics(predicted, labels, options.classes),
  };
}

/**
 * Evaluates a language model on held-out tokens.
 * @param model the model (LM head).
 * @param held the token stream and the UTF-8 bytes it encodes.
 * @param options sequence length, batch size, batch cap (0: all).
 * @returns loss (nats/token), ppl, bpb (bytes pro rata of the tokens scored).
 */
export async function evaluateLm(
  model: MambaModel,
  held: { ids: Int32Array; bytes: number },
  options: { seqLen: number; batchSize: number; maxBatches: number },
): Promise<EvalMetrics> {
  let nats = 0;
  let tokens = 0;
  const maxWindows = options.maxBatches > 0
    ? options.maxBatches * options.batchSize
    : undefined;
  for (const batch of lmBatches(held.ids, { ...options, maxWindows })) {
    const logits = model.forward(batch.ids); // (b, l, v)
    const loss = lmLoss(logits, batch.targets);
    const count = batch.targets.length * options.seqLen;
    nats += (await loss.data())[0] * count;
    tokens += count;
    tf.dispose([logits, loss]);
  }
  if (tokens === 0) {
    throw new Error(
      `evaluation: held-out text too short for one window of ${
        options.seqLen + 1
      } tokens`,
    );
  }
  const bytes = (held.bytes * tokens) / held.ids.length;
  return {
    loss: nats / tokens,
    ppl: perplexity(nats / tokens),
    bpb: bitsPerByte(nats, bytes),
  };
}
