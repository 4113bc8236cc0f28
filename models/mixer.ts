/**
 * The Mamba mixer's conv in tfjs: the causal depthwise conv1d + SiLU over a
 * whole sequence, and its one-token form. The mixer itself (in_proj → conv →
 * x_proj → dt_proj → scan → out_proj) is the `mamba` node kind
 * (`nodes/mamba.ts`), lowered to program ops; these are two of those ops'
 * tfjs implementations (`program/tfjs_ops.ts`).
 *
 * Glossary: `b` batch, `l` length, `dIn` inner width, `k` conv width.
 *
 * Reference: state-spaces/mamba `modules/mamba_simple.py` (`Mamba.forward`,
 * `Mamba.step`); Hugging Face `MambaMixer.slow_forward`.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { hostCausalConvSilu } from "../kernels/_conv_host.ts";
import { silu } from "./_layers.ts";
import {
  fusedConvSupports,
  webgpuCausalConv1dSilu,
} from "../kernels/webgpu/conv1d.ts";

/**
 * Causal depthwise conv over time, continuing from `history`, then SiLU.
 * On webgpu one fused WGSL dispatch that reads x straight out of xz
 * (kernels/webgpu/conv1d.ts); on cpu and wasm one host op that keeps only
 * its input for the backward (kernels/_conv_host.ts); elsewhere (webgpu
 * with a conv width the WGSL kernel does not take) tfjs ops.
 *
 * Reference: Hugging Face `MambaMixer.slow_forward` (conv1d → act).
 *
 * @param xz (b, l, ≥dIn) x is channels [0, dIn) (the in_proj output).
 * @param history (b, k-1, dIn) the k-1 inputs before x (zeros when omitted).
 * @param weight (dIn, 1, k) conv taps.
 * @param bias (dIn) conv bias.
 * @returns u = SiLU(conv(x) + bias) (b, l, dIn) and the new history
 *   (b, k-1, dIn).
 */
export function causalConvSilu(
  xz: tf.Tensor3D,
  history: tf.Tensor3D | undefined,
  weight: tf.Tensor3D,
  bias: tf.Tensor1D | undefined,
): { u: tf.Tensor3D; history: tf.Tensor3D } {
  const [b, l] = xz.shape;
  const [dIn, , k] = weight.shape;
  if (tf.getBackend() === "webgpu" && fusedConvSupports(k)) {
    return webgpuCausalConv1dSilu({ x: xz, weight, history, bias });
  }
  const x = xz.slice([0, 0, 0], [b, l, dIn]) as tf.Tensor3D; // (b, l, dIn)
  const start = history ?? tf.zeros([b, k - 1, dIn]); // (b, k-1, dIn)
  if (tf.getBackend() === "cpu" || tf.getBackend() === "wasm") {
    return hostCausalConvSilu(x, start as tf.Tensor3D, weight, bias);
  }
  const padded = tf.concat([start, x], 1); // (b, l+k-1, dIn)
  const taps = weight.reshape([dIn, k]).transpose() as tf.Tensor2D; // (k, dIn)
  let y: tf.Tensor = bias ? tf.add(tf.zeros([b, l, dIn]), bias) : tf.zeros([
    b,
    l,
    dIn,
  ]);
  for (let j = 0; j < k; j++) {
    const window = padded.slice([0, j, 0], [b, l, dIn]); // (b, l, dIn)
    y = tf.add(y, tf.mul(window, taps.slice([j, 0], [1, dIn]).reshape([dIn])));
  }
  const newHistory = padded.slice([0, l, 0], [b, k - 1, dIn]) as tf.Tensor3D;
  return { u: silu(y) as tf.Tensor3D, history: newHistory };
}

/**
 * One token of the causal conv + SiLU.
 *
 * @param x (b, dIn) the new conv input.
 * @param history (b, k-1, dIn) the previous k-1 inputs, oldest first.
 * @param weight (dIn, 1, k) conv taps.
 * @param bias (dIn) conv bias.
 * @returns u (b, dIn) and the new history (b, k-1, dIn).
 */
export function convSiluStep(
  x: tf.Tensor2D,
  history: tf.Tensor3D,
  weight: tf.Tensor3D,
  bias: tf.Tensor1D | undefined,
): { u: tf.Tensor2D; history: tf.Tensor3D } {
  const [b, dIn] = x.shape;
  const k = weight.shape[2];
  const window = tf.concat([history, x.reshape([b, 1, dIn])], 1); // (b, k, dIn)
  const taps = weight.reshape([dIn, k]).transpose(); // (k, dIn)
  let pre: tf.Tensor = tf.sum(tf.mul(window, taps), 1); // (b, dIn)
  if (bias) pre = tf.add(pre, bias);
  const u = silu(pre) as tf.Tensor2D; // (b, dIn)
  const next = window.slice([0, 1, 0], [b, k - 1, dIn]) as tf.Tensor3D; // (b, k-1, dIn)
  return { u, history: next };
}
