/**
 * Shapes and options shared by every selective-scan implementation.
 *
 * Dimension letters: `b` batch, `l` length, `dIn` inner width (channels),
 * `n` state size.
 *
 * Reference: Gu & Dao, "Mamba" (2023), Algorithm 2; the official
 * `selective_scan_fn` in state-spaces/mamba `ops/selective_scan_interface.py`.
 *
 * @module
 */
import type { tf } from "./backend.ts";

/** Which implementation computes the scan. */
export type ScanImpl = "auto" | "reference" | "chunked" | "seed" | "webgpu";

/**
 * Inputs of the selective scan
 * h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,  y_t = C_t · h_t + D u_t,
 * y_t ← y_t · SiLU(z_t).
 */
export interface ScanInputs {
  /** (b, l, dIn) input sequence. */
  u: tf.Tensor3D;
  /** (b, l, dIn) time step Δ (before bias and softplus when those are asked for). */
  delta: tf.Tensor3D;
  /** (dIn, n) state matrix, already negative (A = −exp(A_log)). */
  A: tf.Tensor2D;
  /** (b, l, n) input projection. */
  B: tf.Tensor3D;
  /** (b, l, n) output projection. */
  C: tf.Tensor3D;
  /** (dIn) skip connection: y += D · u. */
  D?: tf.Tensor1D;
  /** (b, l, dIn) gate: y ← y · SiLU(z). */
  z?: tf.Tensor3D;
  /** (dIn) added to Δ before the softplus. */
  deltaBias?: tf.Tensor1D;
  /** Apply softplus(Δ + deltaBias) to Δ (default false). */
  deltaSoftplus?: boolean;
  /** (b, dIn, n) state before the first step (default zeros). */
  initialState?: tf.Tensor3D;
}

/** Names of the tensor inputs of {@linkcode ScanInputs}, in a fixed order. */
export const SCAN_INPUT_NAMES = [
  "u",
  "delta",
  "A",
  "B",
  "C",
  "D",
  "z",
  "deltaBias",
  "initialState",
] as const;

/** Options of {@linkcode selectiveScan}. */
export interface ScanOptions {
  /** Implementation (default `"auto"`: the WebGPU kernel on webgpu, else `"chunked"`). */
  impl?: ScanImpl;
  /** Also return the final state (b, dIn, n). */
  returnState?: boolean;
  /** Chunk length of the `"chunked"` implementation. */
  chunkSize?: number;
}

/** Output of the selective scan. */
export interface ScanResult {
  /** (b, l, dIn) output. */
  y: tf.Tensor3D;
  /** (b, dIn, n) state after the last step, when `returnState` was set. */
  state?: tf.Tensor3D;
}
