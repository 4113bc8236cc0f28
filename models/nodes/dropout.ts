/**
 * Node kind `dropout`: active in `train` mode only (identity otherwise). The
 * mask's seed is the call's seed · 1009 + the dropout's position among the
 * model's dropout steps.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind } from "./node_kind.ts";

/** Dropout: no parameters; one `dropout` op in train mode. */
export const dropoutKind: NodeKind<Extract<PlanStep, { kind: "dropout" }>> = {
  params: () => ({}),
  lower: (step, x, ctx) => {
    const index = ctx.count("dropout");
    if (ctx.mode !== "train" || step.rate <= 0) return x;
    const [y] = ctx.op("dropout", [x], [["y", x.shape]], {
      rate: step.rate,
      index,
    });
    return y;
  },
};
