/**
 * Node kind `residual`: h + mixer(norm(h)), the block of a Mamba stack. The
 * mixer is any registered mixer kind (`mixers.ts`); a stack may mix kinds.
 *
 * Parameters: the pre-norm's under `backbone.layers.{i}.norm`, the mixer's
 * under `backbone.layers.{i}.mixer`.
 *
 * Reference: Hugging Face `MambaBlock` ([Norm → Mixer → Add]);
 * state-spaces/mamba `modules/block.py`.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind, ParamSpec } from "./node_kind.ts";
import { lowerNorm, normParams } from "./norm.ts";
import { mixerKindOf } from "./mixers.ts";

/** A residual block; its recurrent state is its mixer's. */
export const residualKind: NodeKind<Extract<PlanStep, { kind: "residual" }>> = {
  params: (step, { resolved, prefix }) => {
    const layer = resolved.layers[step.layer];
    const norm = normParams(layer.norm, `${prefix}.norm`, resolved.dModel);
    const { [`${prefix}.norm.bias`]: normBias, ...normWeight } = norm;
    const mixer = mixerKindOf(layer.mixer).params(layer.mixer, {
      resolved,
      prefix: `${prefix}.mixer`,
    });
    const specs: Record<string, ParamSpec> = { ...normWeight, ...mixer };
    if (normBias) specs[`${prefix}.norm.bias`] = normBias;
    return specs;
  },
  lower: (step, h, ctx) => {
    const layer = ctx.resolved.layers[step.layer];
    const kind = mixerKindOf(layer.mixer);
    const normed = lowerNorm(
      layer.norm,
      h,
      ctx,
      `${ctx.prefix}.norm`,
      "normed",
    );
    const shapes = kind.stateShape(layer.mixer);
    const stateIn = ctx.mode === "step"
      ? ctx.stateIn(step.layer, shapes)
      : undefined;
    const mixed = kind.lower(
      layer.mixer,
      normed,
      ctx.within("mixer", `${ctx.prefix}.mixer`),
      stateIn,
    );
    if (mixed.state) ctx.stateOut(step.layer, mixed.state);
    return ctx.op("add", [h, mixed.y], [["h", h.shape]])[0]; // (b, l, d)
  },
};
