/**
 * The Mamba mixer: in_proj → causal depthwise conv1d → SiLU → x_proj →
 * dt_proj → softplus → selective scan (+ D·x) → · SiLU(z) → out_proj,
 * in a parallel form (whole sequence) and a recurrent form (one token).
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` inner width,
 * `n` state size, `r` dt rank, `k` conv width.
 *
 * Reference: state-spaces/mamba `modules/mamba_simple.py` (`Mamba.forward`,
 * `Mamba.step`); Hugging Face `MambaMixer.slow_forward`.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { hostCausalConvSilu } from "../kernels/_conv_host.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import "../kernels/webgpu/register.ts";
import { selectiveScanStep } from "../kernels/scan_step.ts";
import type { ScanImpl } from "../kernels/scan_types.ts";
import type { LayerState } from "./types.ts";
import { type Linear, linear, silu } from "./_layers.ts";
import {
  fusedConvSupports,
  webgpuCausalConv1dSilu,
} from "../kernels/webgpu/conv1d.ts";

/** Sizes of one mixer. */
export interface MixerConfig {
  dInner: number;
  dState: number;
  dtRank: number;
  dConv: number;
  scan: ScanImpl;
}

/** Weights of one mixer, Hugging Face layouts (torch Linear: (out, in)). */
export interface MixerWeights {
  /** (2·dIn, d) */
  inProj: tf.Tensor2D;
  /** (2·dIn) */
  inProjBias?: tf.Tensor1D;
  /** (dIn, 1, k) */
  conv: tf.Tensor3D;
  /** (dIn) */
  convBias?: tf.Tensor1D;
  /** (r + 2n, dIn) */
  xProj: tf.Tensor2D;
  /** (dIn, r) */
  dtProj: tf.Tensor2D;
  /** (dIn) */
  dtProjBias: tf.Tensor1D;
  /** (dIn, n) */
  ALog: tf.Tensor2D;
  /** (dIn) */
  D: tf.Tensor1D;
  /** (d, dIn) */
  outProj: tf.Tensor2D;
  /** (d) */
  outProjBias?: tf.Tensor1D;
}

/** Looks up a mixer's weights by their Hugging Face names under `prefix`. */
export function mixerWeights(
  params: Map<string, tf.Tensor>,
  prefix: string,
): MixerWeights {
  const get = <T extends tf.Tensor>(name: string) =>
    params.get(`${prefix}.${name}`) as T;
  return {
    inProj: get("in_proj.weight"),
    inProjBias: get("in_proj.bias"),
    conv: get("conv1d.weight"),
    convBias: get("conv1d.bias"),
    xProj: get("x_proj.weight"),
    dtProj: get("dt_proj.weight"),
    dtProjBias: get("dt_proj.bias"),
    ALog: get("A_log"),
    D: get("D"),
    outProj: get("out_proj.weight"),
    outProjBias: get("out_proj.bias"),
  };
}

/**
 * Causal depthwise conv over time, continuing from `history`, then SiLU.
 * On webgpu one fused WGSL dispatch that reads x straight out of xz
 * (kernels/webgpu/conv1d.ts); on cpu and wasm one host op that keeps only
 * its input for the backward (kernels/_conv_host.ts); elsewhere (webgpu
 * with a conv width the WGSL kernel does not take) tfjs ops.
 *
 * Reference: Hugging Face `MambaMixer.slow_forward` (conv1d → act).
 *
 * @param xz (b, l, 2·dIn) in_proj output; x is channels [0, dIn).
 * @param history (b, k-1, dIn) the k-1 inputs before x (zeros when omitted).
 * @returns u = SiLU(conv(x) + bias) (b, l, dIn) and the new history
 *   (b, k-1, dIn).
 */
function causalConvSilu(
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

/** @returns the zero state of one mixer for a batch of `batch` sequences. */
export function zeroLayerState(cfg: MixerConfig, batch: number): LayerState {
  return {
    conv: tf.zeros([batch, cfg.dConv - 1, cfg.dInner]),
    ssm: tf.zeros([batch, cfg.dInner, cfg.dState]),
  };
}

/**
 * Parallel mixer forward over a whole sequence.
 *
 * @param w the mixer's weights.
 * @param hidden (b, l, d) normalised hidden states.
 * @param cfg sizes.
 * @param state the state to continue from (zeros when omitted).
 * @returns y (b, l, d) and, when `wantState`, the state after the last token.
 */
export function mixerForward(
  w: MixerWeights,
  hidden: tf.Tensor3D,
  cfg: MixerConfig,
  options: { state?: LayerState; wantState?: boolean } = {},
): { y: tf.Tensor3D; state?: LayerState } {
  const [b, l] = hidden.shape;
  const { dInner: dIn, dState: n, dtRank: r } = cfg;
  const xz = linear(hidden, w.inProj, w.inProjBias) as tf.Tensor3D; // (b, l, 2·dIn)
  const z = xz.slice([0, 0, dIn], [b, l, dIn]) as tf.Tensor3D; // (b, l, dIn)
  const conv = causalConvSilu(xz, options.state?.conv, w.conv, w.convBias);
  const u = conv.u; // (b, l, dIn)
  const dbc = linear(u, w.xProj); // (b, l, r + 2n)
  const dt = dbc.slice([0, 0, 0], [b, l, r]); // (b, l, r)
  const B = dbc.slice([0, 0, r], [b, l, n]) as tf.Tensor3D; // (b, l, n)
  const C = dbc.slice([0, 0, r + n], [b, l, n]) as tf.Tensor3D; // (b, l, n)
  const delta = linear(dt, w.dtProj) as tf.Tensor3D; // (b, l, dIn), bias in the scan
  const A = tf.neg(tf.exp(w.ALog)) as tf.Tensor2D; // (dIn, n)
  const scan = selectiveScan({
    u,
    delta,
    A,
    B,
    C,
    D: w.D,
    z,
    deltaBias: w.dtProjBias,
    deltaSoftplus: true,
    initialState: options.state?.ssm,
  }, { impl: cfg.scan, returnState: options.wantState });
  const y = linear(scan.y, w.outProj, w.outProjBias) as tf.Tensor3D; // (b, l, d)
  if (!options.wantState) return { y };
  return { y, state: { conv: conv.history, ssm: scan.state! } };
}

/**
 * Recurrent mixer step: one token per sequence, O(1) in the sequence length.
 *
 * @param w the mixer's weights.
 * @param hidden (b, d) normalised hidden state of the new token.
 * @param cfg sizes.
 * @param state the state after the previous token.
 * @param project x · Wᵀ + bias (default {@linkcode linear}; the model passes
 *   one with cached transposed weights on wasm).
 * @returns y (b, d) and the state after this token.
 */
export function mixerStep(
  w: MixerWeights,
  hidden: tf.Tensor2D,
  cfg: MixerConfig,
  state: LayerState,
  project: Linear = linear,
): { y: tf.Tensor2D; state: LayerState } {
  const b = hidden.shape[0];
  const { dInner: dIn, dState: n, dtRank: r, dConv: k } = cfg;
  const xz = project(hidden, w.inProj, w.inProjBias); // (b, 2·dIn)
  const x = xz.slice([0, 0], [b, dIn]); // (b, dIn)
  const z = xz.slice([0, dIn], [b, dIn]) as tf.Tensor2D; // (b, dIn)
  const window = tf.concat([state.conv, x.reshape([b, 1, dIn])], 1); // (b, k, dIn)
  const taps = w.conv.reshape([dIn, k]).transpose(); // (k, dIn)
  let pre: tf.Tensor = tf.sum(tf.mul(window, taps), 1); // (b, dIn)
  if (w.convBias) pre = tf.add(pre, w.convBias);
  const u = silu(pre) as tf.Tensor2D; // (b, dIn)
  const dbc = project(u, w.xProj); // (b, r + 2n)
  const dt = dbc.slice([0, 0], [b, r]); // (b, r)
  const B = dbc.slice([0, r], [b, n]) as tf.Tensor2D; // (b, n)
  const C = dbc.slice([0, r + n], [b, n]) as tf.Tensor2D; // (b, n)
  const delta = project(dt, w.dtProj) as tf.Tensor2D; // (b, dIn)
  const A = tf.neg(tf.exp(w.ALog)) as tf.Tensor2D; // (dIn, n)
  const next = selectiveScanStep({
    u,
    delta,
    A,
    B,
    C,
    D: w.D,
    z,
    deltaBias: w.dtProjBias,
    deltaSoftplus: true,
    state: state.ssm,
  });
  const y = project(next.y, w.outProj, w.outProjBias) as tf.Tensor2D; // (b, d)
  const conv = window.slice([0, 1, 0], [b, k - 1, dIn]) as tf.Tensor3D;
  return { y, state: { conv, ssm: next.state } };
}
