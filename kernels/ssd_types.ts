/**
 * Shapes and options shared by every Mamba-2 SSD (state-space duality)
 * implementation: the float64 oracle (`ssd_reference.ts`), the chunked tfjs
 * form (`ssd_chunked.ts`) and the one-token step (`ssd_step.ts`).
 *
 * Dimension letters: `b` batch, `l` length, `h` heads, `p` head dim,
 * `g` groups (B and C are shared by the h / g heads of a group; head i uses
 * group ⌊i / (h / g)⌋), `n` state size.
 *
 * Per batch row and head, with Δ' the processed time step (below):
 * s_t = exp(Δ'_t A) s_{t−1} + Δ'_t x_t B_tᵀ   (s: (p, n))
 * y_t = s_t C_t + D x_t
 *
 * Time step: Δ' = clamp(softplus(dt + dtBias), dtLimit) when `dtSoftplus`,
 * else clamp(dt + dtBias, dtLimit); each part only when given. The official
 * `Mamba2` and transformers' `Mamba2Mixer` apply `time_step_limit` in the
 * parallel forward and NOT in their one-token decode: a caller that wants
 * their decode passes `dtLimit` to the parallel form only.
 *
 * Reference: Dao & Gu, "Transformers are SSMs" (2024), §6 and Listing 1
 * (`ssd_minimal_discrete`); transformers `Mamba2Mixer.torch_forward`;
 * state-spaces/mamba `mamba_chunk_scan_combined` (`dt_bias`, `dt_softplus`,
 * `dt_limit`).
 *
 * @module
 */
import type { tf } from "./backend.ts";

/** Lower and upper bound on Δ' after the softplus (`time_step_limit`). */
export type DtLimit = readonly [number, number];

/** How the raw time step becomes Δ' (shared by every implementation). */
export interface SsdDtOptions {
  /** (h) added to dt before the softplus (`dt_bias`). */
  dtBias?: tf.Tensor1D;
  /** Apply softplus(dt + dtBias) (default false: dt is Δ' already). */
  dtSoftplus?: boolean;
  /** Clamp Δ' to [lo, hi] (`time_step_limit`; hi may be Infinity). */
  dtLimit?: DtLimit;
}

/** Inputs of the SSD over a sequence. */
export interface SsdInputs extends SsdDtOptions {
  /** (b, l, h, p) input. */
  x: tf.Tensor4D;
  /** (b, l, h) time step (raw when dtSoftplus is set). */
  dt: tf.Tensor3D;
  /**
   * (h) one negative scalar per head, A = −exp(A_log). The tfjs forms clamp
   * the exponent Δ'A to ≤ 0 (as it is for every A ≤ 0, Δ' ≥ 0).
   */
  A: tf.Tensor1D;
  /** (b, l, g, n) input projection. */
  B: tf.Tensor4D;
  /** (b, l, g, n) output projection. */
  C: tf.Tensor4D;
  /** (h) skip: y += D x. */
  D?: tf.Tensor1D;
  /** (b, h, p, n) state before the first step (default zeros). */
  initialState?: tf.Tensor4D;
}

/** Output of the SSD over a sequence. */
export interface SsdResult {
  /** (b, l, h, p) output. */
  y: tf.Tensor4D;
  /** (b, h, p, n) state after the last step. */
  state: tf.Tensor4D;
}

/** Inputs of one SSD step (one token). */
export interface SsdStepInputs extends SsdDtOptions {
  /** (b, h, p) input. */
  x: tf.Tensor3D;
  /** (b, h) time step (raw when dtSoftplus is set). */
  dt: tf.Tensor2D;
  /** (h) negative. */
  A: tf.Tensor1D;
  /** (b, g, n) */
  B: tf.Tensor3D;
  /** (b, g, n) */
  C: tf.Tensor3D;
  /** (h) skip. */
  D?: tf.Tensor1D;
  /** (b, h, p, n) state after the previous step. */
  state: tf.Tensor4D;
}

/** Output of one SSD step. */
export interface SsdStepResult {
  /** (b, h, p) output. */
  y: tf.Tensor3D;
  /** (b, h, p, n) new state. */
  state: tf.Tensor4D;
}

/** Names of the tensor inputs of {@linkcode SsdInputs}, in a fixed order. */
export const SSD_INPUT_NAMES = [
  "x",
  "dt",
  "A",
  "B",
  "C",
  "D",
  "dtBias",
  "initialState",
] as const;
