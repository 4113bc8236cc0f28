/**
 * The Mamba block's causal depthwise conv1d + SiLU as one host loop for the
 * cpu and wasm backends, with a hand-written backward.
 *
 * Why: built from tfjs ops (k shifted slices, k multiplies, k adds, then
 * SiLU) the conv kept ~3k + 5 tensors of (b, l, dIn) per layer for autodiff;
 * at the article's IMDB classifier (12 layers, dIn 256, l 128) that was
 * ~100 MiB of tfjs memory per sequence, and batch 32 outgrew the 4 GiB wasm
 * heap ("Aborted()"). This op keeps its input and its output only and
 * recomputes the pre-activation in the backward.
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

/** pre (b, l, dIn) = bias + Σ_j w[d, j] · xp[b, t + j, d] over the padded input. */
function preActivation(
  xp: Float32Array,
  w: Float32Array,
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
      for (let d = 0; d < dIn; d++) {
        let s = bias ? bias[d] : 0;
        for (let j = 0; j < k; j++) {
          s += xp[(i * lp + t + j) * dIn + d] * w[d * k + j];
        }
        pre[out + d] = s;
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
      ts[1].dataSync() as Float32Array,
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
        const ws = saved[1].dataSync() as Float32Array;
        const bs = saved[2]?.dataSync() as Float32Array | undefined;
        const p = preActivation(xs, ws, bs, b, l, dIn, k);
        const duv = du.dataSync() as Float32Array;
        const dxp = new Float64Array(b * lp * dIn);
        const dw = new Float64Array(dIn * k);
        const db = new Float64Array(dIn);
        for (let i = 0; i < b; i++) {
          for (let t = 0; t < l; t++) {
            const row = (i * l + t) * dIn;
            for (let d = 0; d < dIn; d++) {
              // dpre = du · SiLU'(pre); SiLU' = σ(1 + x(1 − σ)).
              const q = p[row + d];
              const sg = sigmoid(q);
              const g = duv[row + d] * sg * (1 + q * (1 - sg));
              db[d] += g;
              for (let j = 0; j < k; j++) {
                const at = (i * lp + t + j) * dIn + d;
                dxp[at] += g * ws[d * k + j];
                dw[d * k + j] += g * xs[at];
              }
            }
          }
        }
        return [
          tf.tensor3d(Float32Array.from(dxp), [b, lp, dIn]),
          tf.tensor3d(Float32Array.from(dw), [dIn, 1, k]),
          ...(bias ? [tf.tensor1d(Float32Array.from(db))] : []),
        ];
      },
    };
  });
  const u = op(...inputs) as tf.Tensor3D;
  return { u, history: xp.slice([0, l, 0], [b, k - 1, dIn]) };
}
