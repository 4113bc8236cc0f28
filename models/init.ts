/**
 * Parameter names, shapes and initial values, as the official implementation
 * initialises them: a walk over the resolved plan that asks each step's node
 * kind (`nodes/registry.ts`) for its parameters.
 *
 * Reference: state-spaces/mamba `modules/mamba_simple.py` (`Mamba.__init__`:
 * dt_proj, A_log, D) and `models/mixer_seq_simple.py` (`_init_weights`:
 * embedding N(0, 0.02), zero linear biases, out_proj rescaled by 1/√nLayers).
 * Linear and conv weights without a special rule follow PyTorch's defaults,
 * U(±1/√fanIn). Names and layouts are those of Hugging Face
 * `MambaForCausalLM` (torch `Linear` weights are (out, in)).
 *
 * @module
 */
import type { PlanStep, ResolvedArchitecture } from "../dsl/resolve.ts";
import { Rng } from "./_rng.ts";
import type { ParamSpec } from "./nodes/_init.ts";
import { nodeKindOf } from "./nodes/registry.ts";

export type { ParamSpec };

/** A top-level norm step of the plan. */
export type NormStep = Extract<PlanStep, { kind: "norm" }>;

/**
 * Names of the top-level norm steps: the last one before the head is
 * `backbone.norm_f` (Hugging Face), any earlier ones `backbone.norms.{j}`.
 *
 * @returns each `norm` step of the plan with its weight prefix, in plan order.
 */
export function normPrefixes(
  resolved: ResolvedArchitecture,
): Map<NormStep, string> {
  const norms = resolved.plan.filter((s): s is NormStep => s.kind === "norm");
  return new Map(norms.map((step, j) => [
    step,
    j === norms.length - 1 ? "backbone.norm_f" : `backbone.norms.${j}`,
  ]));
}

/**
 * @param resolved the resolved architecture (an LM head or not).
 * @returns the weight the LM head multiplies by: the embedding when tied
 *   (or when the head is not an LM head), else `lm_head.weight`.
 */
export function lmHeadWeightName(resolved: ResolvedArchitecture): string {
  const head = resolved.plan[resolved.plan.length - 1];
  return head.kind === "lm_head" && !head.tied
    ? "lm_head.weight"
    : "backbone.embeddings.weight";
}

/**
 * The Hugging Face name prefix of each plan step: `backbone.embeddings`,
 * `backbone.layers.{i}`, `backbone.norm_f` / `backbone.norms.{j}`,
 * `lm_head`, `classifier`; dropout steps `dropout.{j}` (no parameters).
 *
 * @returns one prefix per step of `resolved.plan`.
 */
export function planPrefixes(resolved: ResolvedArchitecture): string[] {
  const norms = normPrefixes(resolved);
  let dropouts = 0;
  return resolved.plan.map((step) => {
    switch (step.kind) {
      case "embedding":
        return "backbone.embeddings";
      case "residual":
        return `backbone.layers.${step.layer}`;
      case "norm":
        return norms.get(step)!;
      case "dropout":
        return `dropout.${dropouts++}`;
      default:
        return step.kind;
    }
  });
}

/**
 * Every parameter of an architecture with its shape and initialiser.
 *
 * @param resolved the resolved architecture (derived sizes filled in).
 * @returns specs keyed by Hugging Face parameter name, in creation order.
 */
export function parameterSpecs(
  resolved: ResolvedArchitecture,
): Map<string, ParamSpec> {
  const specs = new Map<string, ParamSpec>();
  const prefixes = planPrefixes(resolved);
  resolved.plan.forEach((step: PlanStep, i) => {
    const own = nodeKindOf(step).params(step, {
      resolved,
      prefix: prefixes[i],
    });
    for (const [name, spec] of Object.entries(own)) specs.set(name, spec);
  });
  return specs;
}

/**
 * Draws initial values for every parameter.
 *
 * @param resolved the resolved architecture.
 * @param seed the seed; equal seeds give equal weights.
 * @returns values keyed by parameter name.
 */
export function initialValues(
  resolved: ResolvedArchitecture,
  seed: number,
): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, spec] of parameterSpecs(resolved)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    out.set(name, { shape: spec.shape, data: spec.init(rng, size) });
  }
  return out;
}
