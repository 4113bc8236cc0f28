/**
 * Softplus accurate in float32, for Δ' = softplus(Δ + deltaBias).
 *
 * `tf.softplus` computes log(exp(x) + 1): for x ≈ −7 the 1 + e^x rounds and the
 * result loses ~1e-4 relative accuracy. Here softplus(x) = max(x, 0) +
 * log1p(e^−|x|), with log1p from Goldberg's identity
 * log1p(y) = log(w) · y / (w − 1), w = 1 + y (exact up to rounding when w ≠ 1,
 * and y itself when w rounds to 1). The gradient is sigmoid(x), given through
 * `tf.customGrad` so no NaN from the guarded division can reach it.
 *
 * @module
 */
import { tf } from "./backend.ts";

/** log1p(y) for y ≥ 0, accurate in float32 on every backend. */
function log1p(y: tf.Tensor): tf.Tensor {
  const w = tf.add(1, y);
  const den = tf.sub(w, 1);
  const exact = tf.equal(den, 0);
  const safeDen = tf.where(exact, tf.onesLike(den), den);
  const ratio = tf.div(tf.mul(tf.log(w), y), safeDen);
  return tf.where(exact, y, ratio);
}

const softplusOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const input = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  save([input]);
  const value = tf.add(tf.relu(input), log1p(tf.exp(tf.neg(tf.abs(input)))));
  return {
    value,
    gradFunc: (dy, saved) => tf.mul(dy, tf.sigmoid(saved[0])),
  };
});

/**
 * Elementwise softplus(x) = log(1 + e^x), accurate to float32 round-off for
 * every x; gradient sigmoid(x).
 *
 * @param x any shape.
 * @returns softplus(x), same shape.
 *
 * Reference: Goldberg, "What every computer scientist should know about
 * floating-point arithmetic" (1991), Theorem 4 (log1p).
 */
export function softplus<T extends tf.Tensor>(x: T): T {
  return softplusOp(x) as T;
}
