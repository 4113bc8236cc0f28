/**
 * The node-kind registry: every kind of plan step and every mixer kind, by
 * name. The lowering pass (`../program/lower.ts`) and the parameter walk
 * (`../init.ts`) look kinds up here; nothing else knows a kind.
 *
 * ## The module interface (`node_kind.ts`)
 *
 * A top-level kind is a {@linkcode NodeKind}:
 * - `params(step, {resolved, prefix})` → `{ [hfName]: {shape, init} }`, in
 *   creation order (initial values are drawn in that order);
 * - `lower(step, x, ctx)` → the output buffer, appending ops with
 *   `ctx.op(name, inputs, [[localName, shape]], attrs)` for `ctx.mode`
 *   (`forward`, `train` = forward with dropout, `prefill` = forward that
 *   also returns the state, `step` = one token, shapes without `l`);
 * - optional `ops`: new ops with their tfjs implementation, and optional
 *   `webgpuOps`: their binding to prebuilt WebGPU kernels
 *   (`../program/webgpu_ops.ts` shows how the built-ins bind).
 *
 * A mixer kind (inside `residual`) is a {@linkcode MixerKind}: the same
 * `params` and `ops`, `lower(mixer, x, ctx, stateIn?)` → `{y, state?}`, and
 * `stateShape(mixer)` → `{conv, ssm}` shapes with `"b"` for the batch.
 *
 * ## How to add a node kind
 * 1. Its zod schema in `dsl/schema.ts` (and its derived sizes in
 *    `dsl/resolve.ts`: a mixer gets a branch of `resolveMixer`, a top-level
 *    kind a `PlanStep` variant).
 * 2. One module here, `models/nodes/<kind>.ts`, exporting a `NodeKind` (or a
 *    `MixerKind`): Hugging Face parameter names, shapes and official
 *    initialisation; lowering for forward / train / prefill / step, using the
 *    built-in ops (`../program/tfjs_ops.ts` lists them) or ops of its own
 *    with a tfjs implementation in `ops`; for a mixer, its state shapes.
 * 3. One line in {@linkcode NODE_KINDS} below, or in `MIXER_KINDS`
 *    (`mixers.ts`) for a mixer.
 * 4. A test beside the module: its ops against a float64 oracle, its step
 *    against its parallel forward.
 *
 * @module
 */
import type { PlanStep } from "../../dsl/resolve.ts";
import type { NodeKind } from "./node_kind.ts";
import { embeddingKind } from "./embedding.ts";
import { residualKind } from "./residual.ts";
import { dropoutKind } from "./dropout.ts";
import { normKind } from "./norm.ts";
import { lmHeadKind } from "./lm_head.ts";
import { classifierKind } from "./classifier.ts";
import { MIXER_KINDS } from "./mixers.ts";
import type { TfjsOp } from "../program/tfjs_ops.ts";
import type { GpuOp } from "../program/webgpu_ops.ts";

export type {
  Lowering,
  MixerKind,
  NodeKind,
  ParamContext,
} from "./node_kind.ts";
export { MIXER_KINDS, mixerKindOf } from "./mixers.ts";

/** Every top-level node kind, by plan-step `kind`. */
export const NODE_KINDS: {
  readonly [K in PlanStep["kind"]]: NodeKind<Extract<PlanStep, { kind: K }>>;
} = {
  embedding: embeddingKind,
  residual: residualKind,
  dropout: dropoutKind,
  norm: normKind,
  lm_head: lmHeadKind,
  classifier: classifierKind,
};

/**
 * The module of a plan step.
 * @param step a step of the resolved plan.
 * @returns its kind's module.
 */
export function nodeKindOf<S extends PlanStep>(step: S): NodeKind<S> {
  const kind = NODE_KINDS[step.kind as PlanStep["kind"]];
  if (!kind) throw new Error(`no node kind "${step.kind}" is registered`);
  return kind as unknown as NodeKind<S>;
}

/**
 * The ops node kinds add to the built-ins, by op name.
 * @returns every registered kind's `ops`, merged.
 */
export function registeredOps(): Record<string, TfjsOp> {
  const out: Record<string, TfjsOp> = {};
  for (
    const kind of [...Object.values(NODE_KINDS), ...Object.values(MIXER_KINDS)]
  ) {
    Object.assign(out, kind.ops ?? {});
  }
  return out;
}

/**
 * The WebGPU bindings node kinds add, by op name.
 * @returns every registered kind's `webgpuOps`, merged.
 */
export function registeredWebGpuOps(): Record<string, GpuOp> {
  const out: Record<string, GpuOp> = {};
  for (
    const kind of [...Object.values(NODE_KINDS), ...Object.values(MIXER_KINDS)]
  ) {
    Object.assign(out, kind.webgpuOps ?? {});
  }
  return out;
}
