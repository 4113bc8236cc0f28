/**
 * Node kind `classifier`: pooling over the sequence (`last`, `mean`,
 * `flatten`), an optional hidden dense layer with its activation, then class
 * scores and the head's activation.
 *
 * Parameters: `classifier.hidden.weight` (units, in), `classifier.hidden.bias`
 * (units), `classifier.out.weight` (c, in'), `classifier.out.bias` (c);
 * weights U(±1/√fanIn), biases 0.
 *
 * Reference: the article's IMDB classifier (Flatten → Dense 1024 GELU →
 * Dense 1 sigmoid), generalised to `last` and `mean` pooling.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind, ParamSpec } from "./node_kind.ts";
import { constant, uniform } from "./_init.ts";

type ClassifierStep = Extract<PlanStep, { kind: "classifier" }>;

/** The classifier head: (b, l, d) → (b, c); sets the raw scores too. */
export const classifierKind: NodeKind<ClassifierStep> = {
  params: (head, { resolved, prefix }) => {
    const d = resolved.dModel;
    const specs: Record<string, ParamSpec> = {};
    let width = head.pooling === "flatten" ? d * resolved.seqLen! : d;
    if (head.hidden) {
      specs[`${prefix}.hidden.weight`] = {
        shape: [head.hidden.units, width],
        init: uniform(1 / Math.sqrt(width)),
      };
      specs[`${prefix}.hidden.bias`] = {
        shape: [head.hidden.units],
        init: constant(0),
      };
      width = head.hidden.units;
    }
    specs[`${prefix}.out.weight`] = {
      shape: [head.classes, width],
      init: uniform(1 / Math.sqrt(width)),
    };
    specs[`${prefix}.out.bias`] = { shape: [head.classes], init: constant(0) };
    return specs;
  },
  lower: (head, h, ctx) => {
    if (ctx.mode === "prefill" || ctx.mode === "step") {
      throw new Error(
        `${ctx.mode}: needs an lm_head model, this architecture ends in "classifier"`,
      );
    }
    const d = ctx.resolved.dModel;
    const seqLen = ctx.resolved.seqLen ?? null;
    const pooledWidth = head.pooling === "flatten" ? d * seqLen! : d;
    let [x] = ctx.op("pool", [h], [["pooled", ["b", pooledWidth]]], {
      pooling: head.pooling,
      seqLen,
    }); // (b, d) or (b, l·d)
    const p = ctx.prefix;
    if (head.hidden) {
      [x] = ctx.op(
        "linear",
        [x, ctx.param(`${p}.hidden.weight`), ctx.param(`${p}.hidden.bias`)],
        [["hidden", ["b", head.hidden.units]]],
      );
      [x] = ctx.op("activate", [x], [["hidden_act", x.shape]], {
        fn: head.hidden.activation,
      }); // (b, units)
    }
    const [scores] = ctx.op(
      "linear",
      [x, ctx.param(`${p}.out.weight`), ctx.param(`${p}.out.bias`)],
      [["scores", ["b", head.classes]]],
    ); // (b, c)
    ctx.setRaw(scores);
    return ctx.op("activate", [scores], [["probs", scores.shape]], {
      fn: head.activation,
    })[0]; // (b, c)
  },
};
