/**
 * The model interface every part of the project builds on.
 *
 * Dimension letters: `b` batch, `l` length, `d` model width, `dIn` inner
 * width, `n` state size, `k` conv width, `v` vocab, `c` classes.
 *
 * @module
 */
import type { tf } from "../kernels/backend.ts";
import type { Architecture } from "../dsl/schema.ts";
import type { ResolvedArchitecture } from "../dsl/resolve.ts";

/** Token ids: `number[][]` (b rows of equal length) or an int32 tensor (b, l). */
export type TokenIds = number[][] | tf.Tensor2D;

/** Recurrent state of one Mamba layer (any mixer kind). */
export type LayerState = {
  /**
   * (b, k-1, channels) the last k-1 conv inputs (pre-conv), oldest first:
   * dIn channels for Mamba-1, dIn + 2·groups·n (x, B, C) for Mamba-2.
   */
  conv: tf.Tensor3D;
  /** (b, dIn, n) SSM state (Mamba-2: its (b, heads, headDim, n), same elements). */
  ssm: tf.Tensor3D;
};

/** Recurrent state of the whole model: one entry per residual layer. */
export type ModelState = {
  layers: LayerState[];
};

/** Options of {@linkcode MambaModel.forward}. */
export interface ForwardOptions {
  /** Training mode: dropout active (default false). */
  training?: boolean;
  /** Seed for dropout masks in training mode. */
  seed?: number;
  /** Classifier heads: return raw scores (before sigmoid/softmax), for losses. */
  raw?: boolean;
}

/** Options of {@linkcode MambaModel.prefill}. */
export interface PrefillOptions {
  /**
   * LM-head logits for the last position only, (b, 1, v): what generation
   * needs, without the head's (l − 1) · d · v multiply-adds.
   */
  lastOnly?: boolean;
}

/** A built Mamba model: hyperparameters (the DSL data) apart from weights. */
export interface MambaModel {
  /** The architecture, as validated DSL data (defaults filled in). */
  readonly architecture: Architecture;
  /** Derived values: dModel, layers with dInner and numeric dtRank, padded vocab. */
  readonly resolved: ResolvedArchitecture;
  /** Weights by Hugging Face name (`backbone.layers.0.mixer.in_proj.weight`, …). */
  readonly params: Map<string, tf.Variable>;
  /**
   * Parallel forward pass.
   * @param ids (b, l) token ids.
   * @returns LM head: logits (b, l, v); classifier: class probabilities (b, c)
   *   (raw scores when the head's activation is "none").
   */
  forward(ids: TokenIds, options?: ForwardOptions): tf.Tensor;
  /**
   * Parallel forward over a prompt that also returns the state to continue
   * from with {@linkcode MambaModel.step}. LM heads only.
   * @param ids (b, l) the prompt.
   * @param options `lastOnly`: logits of the last position only.
   * @returns logits (b, l, v) — (b, 1, v) with `lastOnly` — and the state
   *   after the last token.
   */
  prefill(
    ids: TokenIds,
    options?: PrefillOptions,
  ): { logits: tf.Tensor3D; state: ModelState };
  /**
   * One recurrent step, O(1) in the sequence length.
   * @param ids (b) one new token per sequence.
   * @param state the state after the previous token (or {@linkcode MambaModel.initialState}).
   * @returns logits (b, v) and the new state; the old state is left intact.
   */
  step(
    ids: number[] | tf.Tensor1D,
    state: ModelState,
  ): { logits: tf.Tensor2D; state: ModelState };
  /** The zero state: what {@linkcode MambaModel.step} starts from.
   * @returns zero conv windows and SSM states for `batch` sequences. */
  initialState(batch: number): ModelState;
  /** Frees the weights. */
  dispose(): void;
}
