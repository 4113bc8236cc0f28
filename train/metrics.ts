/**
 * Losses and evaluation metrics: cross-entropy losses on raw scores, accuracy,
 * F1, perplexity, bits per byte.
 *
 * Reference: Keras `binary_crossentropy(from_logits=True)`; bits per byte as
 * in the enwik8/text8 literature (nats / ln 2 / bytes).
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";

/**
 * Classification loss on raw scores.
 * @param scores (b, c) raw scores; c = 1 means a sigmoid head (binary).
 * @param labels (b) class indices.
 * @returns scalar mean loss (sigmoid or softmax cross-entropy).
 */
export function classificationLoss(
  scores: tf.Tensor,
  labels: number[],
): tf.Scalar {
  return tf.tidy(() => {
    const c = scores.shape[scores.shape.length - 1]!;
    if (c === 1) {
      const y = tf.tensor2d(labels, [labels.length, 1]);
      return tf.losses.sigmoidCrossEntropy(
        y,
        scores as tf.Tensor2D,
      ) as tf.Scalar;
    }
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), c);
    return tf.losses.softmaxCrossEntropy(y, scores as tf.Tensor2D) as tf.Scalar;
  });
}

/**
 * Mean next-token cross-entropy in nats.
 * @param logits (b, l, v) logits.
 * @param targets (b, l) next-token ids.
 * @returns scalar mean loss.
 */
export function lmLoss(logits: tf.Tensor, targets: number[][]): tf.Scalar {
  return tf.tidy(() => {
    const v = logits.shape[2]!;
    const flat = tf.reshape(logits, [-1, v]); // (b·l, v)
    const y = tf.tensor1d(targets.flat(), "int32"); // (b·l)
    const logp = tf.logSoftmax(flat); // (b·l, v)
    const picked = tf.sum(tf.mul(logp, tf.oneHot(y, v)), 1); // (b·l)
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

/**
 * Predicted classes from probabilities or raw scores.
 * @param scores (b, c) values; c = 1: positive when > threshold.
 * @param threshold 0.5 for probabilities, 0 for raw scores.
 * @returns (b) class indices.
 */
export async function predictClasses(
  scores: tf.Tensor,
  threshold = 0,
): Promise<number[]> {
  const c = scores.shape[scores.shape.length - 1]!;
  const data = await scores.data();
  const out: number[] = [];
  for (let i = 0; i < data.length / c; i++) {
    if (c === 1) out.push(data[i] > threshold ? 1 : 0);
    else {
      let best = 0;
      for (let k = 1; k < c; k++) {
        if (data[i * c + k] > data[i * c + best]) best = k;
      }
      out.push(best);
    }
  }
  return out;
}

/** Accuracy and F1 of predictions. */
export interface ClassMetrics {
  /** Fraction of predictions equal to the label. */
  accuracy: number;
  /** Binary: F1 of class 1; multi-class: macro F1. */
  f1: number;
}

/**
 * @param predicted (n) predicted classes.
 * @param labels (n) true classes.
 * @param classes number of classes (2 for a sigmoid head).
 * @returns accuracy and F1.
 * @example
 * ```ts
 * classMetrics([1, 0, 1], [1, 1, 1], 2); // accuracy 2/3, f1 0.8
 * ```
 */
export function classMetrics(
  predicted: number[],
  labels: number[],
  classes: number,
): ClassMetrics {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    if (predicted[i] === labels[i]) correct++;
  }
  const f1Of = (k: number) => {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < labels.length; i++) {
      if (predicted[i] === k && labels[i] === k) tp++;
      else if (predicted[i] === k) fp++;
      else if (labels[i] === k) fn++;
    }
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  };
  const f1 = classes <= 2
    ? f1Of(1)
    : Array.from({ length: classes }, (_, k) => f1Of(k)).reduce(
      (a, b) => a + b,
      0,
    ) / classes;
  return { accuracy: labels.length ? correct / labels.length : 0, f1 };
}

/**
 * @param meanNats mean cross-entropy per token in nats.
 * @returns perplexity exp(nats).
 */
export function perplexity(meanNats: number): number {
  return Math.exp(meanNats);
}

/**
 * @param totalNats summed cross-entropy over the evaluated tokens, in nats.
 * @param bytes UTF-8 bytes those tokens encode.
 * @returns bits per byte.
 */
export function bitsPerByte(totalNats: number, bytes: number): number {
  return totalNats / Math.LN2 / bytes;
}
