/**
 * The Mamba block's causal depthwise conv1d + SiLU as one host loop for the
 * cpu and wasm backends, with a hand-written backward.
 *
 * Why: built from tfjs ops (k shifted slices, k multiplies, k adds, then
 * SiLU) the conv kept ~3k + 5 tensors of (b, l, dIn) per layer for autodiff;
 * at the article's IMDB classifier (12 layers, dIn 256, l 128) that was
 * ~100 MiB of tfjs memory per sequence, and batch 32 outgrew the 4 GiB wasm
 * heap ("Aborted()"). This op keeps only its inputs (the padded input, the
 * taps, the bias) and recomputes the pre-activation in the backward.
 *
 * Arithmetic in float64 inside, float32 tensors outside; the sums are the
 * tfjs-op version's (bias, then taps in order), so values agree to float32
 * round-off.
 *
 * Reference: Hugging Face `MambaMixer.slow_forward` (conv1d with padding
 * k − 1, cut to l, then the activation).
 *
 * @module
 */
import { tf } from "./backend.ts";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The taps (dIn, 1, k) transposed to (k, dIn), so inner loops run over d. */
function tapsByOffset(w: Float32Array, dIn: number, k: number): Float64Array {
  const wT = new Float64Array(k * dIn);
  for (let d = 0; d < dIn; d++) {
    for (let j = 0; j < k; j++) wT[j * dIn + d] = w[d * k + j];
  }
  return wT;
}

/** pre (b, l, dIn) = bias + Σ_j w[d, j] · xp[b, t + j, d] over the padded input. */
function preActivation(
  xp: Float32Array,
  wT: Float64Array,
  bias: Float32Array | undefined,
  b: number,
  l: number,
  dIn: number,
  k: number,
): Float64Array {
  const pre = new Float64Array(b * l * dIn);
  const lp = l + k - 1;
  for (let i = 0; i < b; i++) {
    for (let t = 0; t < l; t++) {
      const out = (i * l + t) * dIn;
      if (bias) { for (let d = 0; d < dIn; d++) pre[out + d] = bias[d]; }
      for (let j = 0; j < k; j++) {
        const src = (i * lp + t + j) * dIn;
        const wo = j * dIn;
        for (let d = 0; d < dIn; d++) pre[out + d] += xp[src + d] * wT[wo + d];
      }
    }
  }
  return pre;
}

/**
 * u = SiLU(conv(x) + bias) over [history | x], and the new history (the
 * last k − 1 rows of [history | x]); differentiable in x, history, weight
 * and bias. cpu and wasm only (reads tensors synchronously).
 *
 * @param x (b, l, dIn) conv input.
 * @param history (b, k − 1, dIn) the inputs before x.
 * @param weight (dIn, 1, k) depthwise taps, oldest first.
 * @param bias (dIn) or undefined.
 * @returns u (b, l, dIn) and the new history (b, k − 1, dIn).
 */
export function hostCausalConvSilu(
  x: tf.Tensor3D,
  history: tf.Tensor3D,
  weight: tf.Tensor3D,
  bias: tf.Tensor1D | undefined,
): { u: tf.Tensor3D; history: tf.Tensor3D } {
  const [b, l, dIn] = x.shape;
  const k = weight.shape[2];
  const lp = l + k - 1;
  // [history | x] (b, l + k − 1, dIn): the op's one input of that size, kept
  // for its backward; tfjs's concat gradient hands dxp back to both parts.
  const xp = tf.concat([history, x], 1) as tf.Tensor3D;
  const inputs = bias ? [xp, weight, bias] : [xp, weight];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[inputs.length] as tf.GradSaveFunc;
    const ts = args.slice(0, inputs.length) as tf.Tensor[];
    const pre = preActivation(
      ts[0].dataSync() as Float32Array,
      tapsByOffset(ts[1].dataSync() as Float32Array, dIn, k),
      ts[2]?.dataSync() as Float32Array | undefined,
      b,
      l,
      dIn,
      k,
    );
    const u = new Float32Array(pre.length);
    for (let j = 0; j < pre.length; j++) u[j] = pre[j] * sigmoid(pre[j]);
    save(ts);
    return {
      value: tf.tensor3d(u, [b, l, dIn]),
      gradFunc: (du: tf.Tensor, saved: tf.Tensor[]) => {
        const xs = saved[0].dataSync() as Float32Array;
        const wT = tapsByOffset(saved[1].dataSync() as Float32Array, dIn, k);
        const bs = saved[2]?.dataSync() as Float32Array | undefined;
        const g = preActivation(xs, wT, bs, b, l, dIn, k);
        const duv = du.dataSync() as Float32Array;
        // g = dpre = du · SiLU'(pre), in place; SiLU' = σ(1 + x(1 − σ)).
        for (let j = 0; j < g.length; j++) {
          const sg = sigmoid(g[j]);
          g[j] = duv[j] * sg * (1 + g[j] * (1 - sg));
        }
        const dxp = new Float64Array(b * lp * dIn);
        const dwT = new Float64Array(k * dIn);
        const db = new Float64Array(dIn);
        for (let i = 0; i < b; i++) {
          for (let t = 0; t < l; t++) {
            const row = (i * l + t) * dIn;
            for (let d = 0; d < dIn; d++) db[d] += g[row + d];
            for (let j = 0; j < k; j++) {
              const src = (i * lp + t + j) * dIn;
              const wo = j * dIn;
              for (let d = 0; d < dIn; d++) {
                dxp[src + d] += g[row + d] * wT[wo + d];
                dwT[wo + d] += g[row + d] * xs[src + d];
              }
            }
          }
        }
        const dw = new Float32Array(dIn * k);
        for (let d = 0; d < dIn; d++) {
          for (let j = 0; j < k; j++) dw[d * k + j] = dwT[j * dIn + d];
        }
        return [
          tf.tensor3d(Float32Array.from(dxp), [b, lp, dIn]),
          tf.tensor3d(dw, [dIn, 1, k]),
          ...(bias ? [tf.tensor1d(Float32Array.from(db))] : []),
        ];
      },
    };
  });
  const u = op(...inputs) as tf.Tensor3D;
  return { u, history: xp.slice([0, l, 0], [b, k - 1, dIn]) };
}
