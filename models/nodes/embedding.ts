/**
 * Node kind `embedding`: token ids → rows of the embedding table.
 *
 * Parameter: `backbone.embeddings.weight` (paddedVocab, d), N(0, 0.02).
 *
 * Reference: state-spaces/mamba `models/mixer_seq_simple.py`
 * (`MixerModel.embedding`, `_init_weights`).
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind } from "./node_kind.ts";
import { normal } from "./_init.ts";

/** The embedding: gathers (b, l, d) — (b, d) in step mode — from the ids. */
export const embeddingKind: NodeKind<Extract<PlanStep, { kind: "embedding" }>> =
  {
    params: (_step, { resolved, prefix }) => ({
      [`${prefix}.weight`]: {
        shape: [resolved.paddedVocab, resolved.dModel],
        init: normal(0.02),
      },
    }),
    lower: (_step, ids, ctx) => {
      const table = ctx.param(`${ctx.prefix}.weight`);
      const [h] = ctx.op("gather", [table, ids], [[
        "h",
        [...ids.shape, ctx.resolved.dModel],
      ]]); // (b, l, d) or (b, d)
      return h;
    },
  };
