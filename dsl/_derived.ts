/**
 * Private: the derived sizes of an architecture — dInner, numeric dtRank,
 * padded vocabulary — as plain functions of the node data, so that
 * `resolve.ts` (the plan) and `sizes.ts` (the size limits, checked while
 * validating) compute them the same way, in one place.
 *
 * Reference: mamba-minimal `ModelArgs.__post_init__`; HF `MambaConfig`
 * (`time_step_rank` "auto" = ceil(hidden_size / 16), `intermediate_size` =
 * expand · hidden_size).
 *
 * @module
 */
import type { EmbeddingNode, Mamba2Node, MambaNode } from "./schema.ts";

/**
 * Numeric dtRank of a mixer.
 * @param mixer the mixer node.
 * @param dModel model width d.
 * @returns dtRank, with "auto" = ceil(dModel / 16).
 */
export function dtRankOf(mixer: MambaNode, dModel: number): number {
  return mixer.dtRank === "auto" ? Math.ceil(dModel / 16) : mixer.dtRank;
}

/**
 * Inner width of a mixer.
 * @param mixer the mixer node.
 * @param dModel model width d.
 * @returns dIn = expand · dModel.
 */
export function dInnerOf(
  mixer: MambaNode | Mamba2Node,
  dModel: number,
): number {
  return mixer.expand * dModel;
}

/**
 * Heads of a Mamba-2 mixer.
 * @param mixer the mixer node.
 * @param dModel model width d.
 * @returns heads, with "auto" = expand · dModel / headDim (rounded down;
 *   the rules refuse a mismatch).
 */
export function headsOf(mixer: Mamba2Node, dModel: number): number {
  return mixer.heads === "auto"
    ? Math.max(1, Math.floor(mixer.expand * dModel / mixer.headDim))
    : mixer.heads;
}

/**
 * Rows of the embedding matrix.
 * @param embedding the embedding node.
 * @returns vocab rounded up to a multiple of padVocabMultiple.
 */
export function paddedVocabOf(embedding: EmbeddingNode): number {
  const multiple = embedding.padVocabMultiple;
  return Math.ceil(embedding.vocab / multiple) * multiple;
}
