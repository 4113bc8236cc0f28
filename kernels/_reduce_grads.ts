/**
 * Side-effect module: gradients of `Sum` and `Mean` that multiply the
 * incoming gradient by `onesLike(x)` (made by the backend) instead of
 * `ones(x.shape)` (made on the CPU).
 *
 * tfjs-core 4.22 builds that `ones` tensor on the CPU; on webgpu every
 * backward pass then uploads a tensor the size of the reduced input (the
 * loss's (b·l, v) log-probabilities in training: the largest tensor of the
 * model) through a freshly mapped staging buffer — seconds per call at large
 * shapes on the H200 (BENCHMARKS.md, scan forward + backward). `onesLike`
 * is a fill on the device (a `broadcastTo` of the CPU-resident scalar dy would
 * itself run on the CPU). Same operations, same values.
 *
 * Reference: tfjs-core 4.22 `gradients/Sum_grad.ts`, `gradients/Mean_grad.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** @returns dy reshaped with the reduced axes kept as size 1. */
function expanded(dy: tf.Tensor, x: tf.Tensor, axis: unknown): tf.Tensor {
  const rank = x.rank;
  const list = axis === null || axis === undefined
    ? [...Array(rank).keys()]
    : (Array.isArray(axis) ? axis : [axis]) as number[];
  const shape = x.shape.slice();
  for (const a of list) shape[a < 0 ? a + rank : a] = 1;
  return tf.reshape(dy, shape);
}

tf.registerGradient({
  kernelName: tf.Sum,
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as { axis: unknown };
    return {
      x: () => tf.mul(expanded(dy as tf.Tensor, x, axis), tf.onesLike(x)),
    };
  },
});

tf.registerGradient({
  kernelName: tf.Mean,
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as { axis: unknown };
    return {
      x: () => {
        const e = expanded(dy as tf.Tensor, x, axis);
        const reduceSize = x.size / e.size;
        return tf.div(tf.mul(e, tf.onesLike(x)), reduceSize);
      },
    };
  },
});
