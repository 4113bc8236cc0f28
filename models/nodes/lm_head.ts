/**
 * Node kind `lm_head`: logits = h · Wᵀ, W the embedding table when tied,
 * else `lm_head.weight` (paddedVocab, d), U(±1/√d).
 *
 * Reference: Hugging Face `MambaForCausalLM.lm_head`.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind, ParamSpec } from "./node_kind.ts";
import { uniform } from "./_init.ts";

/** The LM head: (b, l, d) → (b, l, v); (b, d) → (b, v) in step mode. */
export const lmHeadKind: NodeKind<Extract<PlanStep, { kind: "lm_head" }>> = {
  params: (step, { resolved, prefix }): Record<string, ParamSpec> =>
    step.tied ? {} : {
      [`${prefix}.weight`]: {
        shape: [resolved.paddedVocab, resolved.dModel],
        init: uniform(1 / Math.sqrt(resolved.dModel)),
      },
    },
  lower: (step, x, ctx) => {
    const weight = ctx.param(
      step.tied ? "backbone.embeddings.weight" : `${ctx.prefix}.weight`,
    ); // (v, d)
    const v = weight.shape[0];
    if (ctx.mode === "step") {
      return ctx.op("linear", [x, weight], [["logits", [x.shape[0], v]]])[0]; // (b, v)
    }
    let h = x;
    if (ctx.lastOnly) {
      [h] = ctx.op("last_position", [x], [["last", ["b", 1, x.shape[2]]]]); // (b, 1, d)
    }
    return ctx.op("matmul_t", [h, weight], [[
      "logits",
      [...h.shape.slice(0, -1), v],
    ]])[0]; // (b, l, v)
  },
};
