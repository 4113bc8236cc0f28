/**
 * The classifier head: pooling over the sequence, an optional hidden dense
 * layer, then class scores.
 *
 * Reference: the article's IMDB classifier (Flatten → Dense 1024 GELU →
 * Dense 1 sigmoid), generalised to `last` and `mean` pooling.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { PlanStep } from "../dsl/resolve.ts";
import { gelu, linear } from "./_layers.ts";

/** The classifier head step of a plan. */
export type ClassifierStep = Extract<PlanStep, { kind: "classifier" }>;

/**
 * An activation by its DSL name ("none" and unknown names: identity).
 * @param x any shape.
 * @returns f(x), same shape (softmax over the last axis).
 */
export function activate(name: string, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case "gelu":
      return gelu(x);
    case "relu":
      return tf.relu(x);
    case "silu":
      return tf.mul(x, tf.sigmoid(x));
    case "tanh":
      return tf.tanh(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "softmax":
      return tf.softmax(x);
    default:
      return x;
  }
}

/**
 * Pools hidden states over the sequence.
 * @param h (b, l, d) final hidden states.
 * @param pooling "last", "mean" or "flatten".
 * @param seqLen the architecture's fixed length (flatten needs l = seqLen).
 * @returns (b, d), or (b, l·d) for flatten.
 */
export function pool(
  h: tf.Tensor3D,
  pooling: string,
  seqLen: number | null | undefined,
): tf.Tensor2D {
  const [b, l, d] = h.shape;
  if (pooling === "last") {
    return h.slice([0, l - 1, 0], [b, 1, d]).reshape([b, d]); // (b, d)
  } else if (pooling === "mean") {
    return tf.mean(h, 1); // (b, d)
  }
  if (l !== seqLen) {
    throw new Error(
      `forward: ids: expected length ${seqLen} (the architecture's seqLen, needed by flatten pooling), received ${l}`,
    );
  }
  return h.reshape([b, l * d]); // (b, l·d)
}

/**
 * @param h (b, l, d) final hidden states.
 * @returns (b, c) probabilities, or raw scores when `raw`.
 */
export function classify(
  head: ClassifierStep,
  h: tf.Tensor3D,
  params: Map<string, tf.Tensor>,
  options: { seqLen?: number; raw: boolean },
): tf.Tensor2D {
  let x: tf.Tensor = pool(h, head.pooling, options.seqLen); // (b, d) or (b, l·d)
  if (head.hidden) {
    x = linear(
      x,
      params.get("classifier.hidden.weight")!,
      params.get("classifier.hidden.bias"),
    );
    x = activate(head.hidden.activation, x); // (b, units)
  }
  const scores = linear(
    x,
    params.get("classifier.out.weight")!,
    params.get("classifier.out.bias"),
  ); // (b, c)
  return (options.raw
    ? scores
    : activate(head.activation, scores)) as tf.Tensor2D;
}
