/**
 * A cumulative sum on the last axis that is right on every backend, forward
 * and gradient.
 *
 * tfjs 4.22's WebGPU `Cumsum` bakes the axis length into its shader but not
 * into the shader key (a later cumsum of another length on the same rank
 * returns wrong values), so on webgpu the sum is built from matMuls with a
 * constant triangular matrix, in blocks. On cpu and wasm `tf.cumsum` on the
 * last axis is right, forward and gradient (its gradient is wrong only on
 * other axes), and is used as is.
 *
 * Reference: tfjs-backend-webgpu `cumsum_webgpu.ts`, tfjs-core
 * `gradients/Cumsum_grad.ts` (see shared notes, "Known tfjs bugs").
 *
 * @module
 */
import { tf } from "./backend.ts";

const BLOCK = 32;

/** (L, L) with ones where row ≤ column: x @ U is the inclusive cumsum. */
function upperOnes(L: number): tf.Tensor2D {
  const m = new Float32Array(L * L);
  for (let k = 0; k < L; k++) for (let t = k; t < L; t++) m[k * L + t] = 1;
  return tf.tensor2d(m, [L, L]);
}

/** Inclusive cumsum of each row of (R, L) by blocked matMuls. */
function matMulCumsum(x: tf.Tensor2D): tf.Tensor2D {
  const [R, L] = x.shape;
  if (L <= BLOCK) return tf.matMul(x, upperOnes(L));
  const c = Math.ceil(L / BLOCK);
  const padded = c * BLOCK > L ? tf.pad(x, [[0, 0], [0, c * BLOCK - L]]) : x; // (R, c·BLOCK)
  const within = tf.reshape(
    tf.matMul(tf.reshape(padded, [R * c, BLOCK]), upperOnes(BLOCK)),
    [R, c, BLOCK],
  ); // (R, c, BLOCK)
  const totals = tf.reshape(
    tf.slice(within, [0, 0, BLOCK - 1], [R, c, 1]),
    [R, c],
  ) as tf.Tensor2D; // (R, c)
  const before = tf.sub(matMulCumsum(totals), totals); // (R, c) exclusive
  const out = tf.reshape(
    tf.add(within, tf.reshape(before, [R, c, 1])),
    [R, c * BLOCK],
  ); // (R, c·BLOCK)
  return (c * BLOCK > L ? tf.slice(out, [0, 0], [R, L]) : out) as tf.Tensor2D;
}

/**
 * Cumulative sum along the last axis.
 *
 * @param x any shape, rank ≥ 1.
 * @param options exclusive (sum of the elements strictly before), reverse
 *   (sum from the end), as in `tf.cumsum`.
 * @returns same shape as x.
 */
export function cumsumLastAxis<T extends tf.Tensor>(
  x: T,
  options: { exclusive?: boolean; reverse?: boolean } = {},
): T {
  const { exclusive = false, reverse = false } = options;
  const axis = x.rank - 1;
  if (tf.getBackend() !== "webgpu") {
    return tf.cumsum(x, axis, exclusive, reverse) as T;
  }
  return tf.tidy(() => {
    const L = x.shape[axis];
    let rows = tf.reshape(x, [-1, L]) as tf.Tensor2D; // (R, L)
    if (reverse) rows = tf.reverse(rows, 1);
    let sums = matMulCumsum(rows); // (R, L)
    if (exclusive) sums = tf.sub(sums, rows);
    if (reverse) sums = tf.reverse(sums, 1);
    return tf.reshape(sums, x.shape) as T;
  });
}
