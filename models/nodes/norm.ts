/**
 * Node kind `norm` (`rms_norm`, `layer_norm`) over the last axis, on its own
 * (`backbone.norm_f`, `backbone.norms.{j}`) or as a residual block's pre-norm.
 *
 * Parameters: `{prefix}.weight` (d) = 1; LayerNorm also `{prefix}.bias`
 * (d) = 0.
 *
 * Reference: Hugging Face `MambaRMSNorm`; `torch.nn.LayerNorm`.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NormNode } from "../../dsl/schema.ts";
import type { Buf } from "../program/program.ts";
import type { Lowering, NodeKind, ParamSpec } from "./node_kind.ts";
import { constant } from "./_init.ts";

/**
 * A norm's parameters.
 * @param norm the norm node.
 * @param prefix e.g. `backbone.norm_f` or `backbone.layers.3.norm`.
 * @param d model width.
 * @returns weight (and LayerNorm's bias) specs.
 */
export function normParams(
  norm: NormNode,
  prefix: string,
  d: number,
): Record<string, ParamSpec> {
  const specs: Record<string, ParamSpec> = {
    [`${prefix}.weight`]: { shape: [d], init: constant(1) },
  };
  if (norm.kind === "layer_norm") {
    specs[`${prefix}.bias`] = { shape: [d], init: constant(0) };
  }
  return specs;
}

/**
 * Lowers a norm to one `norm` op.
 * @param x (…, d)
 * @param prefix the weights' prefix.
 * @param name the output's local name.
 * @returns (…, d)
 */
export function lowerNorm(
  norm: NormNode,
  x: Buf,
  ctx: Lowering,
  prefix: string,
  name = "y",
): Buf {
  const [y] = ctx.op(
    "norm",
    [x, ctx.param(`${prefix}.weight`), ctx.maybeParam(`${prefix}.bias`)],
    [[name, x.shape]],
    { kind: norm.kind, eps: norm.eps },
  );
  return y;
}

/** A top-level norm step. */
export const normKind: NodeKind<Extract<PlanStep, { kind: "norm" }>> = {
  params: (step, { resolved, prefix }) =>
    normParams(step.norm, prefix, resolved.dModel),
  lower: (step, x, ctx) => lowerNorm(step.norm, x, ctx, ctx.prefix),
};
