/**
 * The interface every node kind implements (see `registry.ts` for how to
 * add one). A node kind is one module: its parameters (Hugging Face names,
 * shapes, official initialisation), its lowering to program ops for every
 * mode, and — for mixers — its recurrent state.
 *
 * @module
 */
import type {
  PlanStep,
  ResolvedArchitecture,
  ResolvedMixer,
} from "../../dsl/resolve.ts";
import type {
  AttrValue,
  Buf,
  Mode,
  Shape,
  StateBufs,
} from "../program/program.ts";
import type { TfjsOp } from "../program/tfjs_ops.ts";
import type { GpuOp } from "../program/webgpu_ops.ts";
import type { ParamSpec } from "./_init.ts";

export type { ParamSpec };

/** What a node kind's `params` sees. */
export interface ParamContext {
  /** The whole resolved architecture (dModel, layer count, vocab, seqLen). */
  readonly resolved: ResolvedArchitecture;
  /** The step's name prefix: `backbone.embeddings`, `backbone.layers.3`,
   * `backbone.layers.3.mixer`, `backbone.norm_f`, `lm_head`, `classifier`. */
  readonly prefix: string;
}

/** What a node kind's `lower` builds with: appends ops to the program. */
export interface Lowering {
  /** The mode being lowered. */
  readonly mode: Mode;
  /** Prefill only: the LM head sees the last position only. */
  readonly lastOnly: boolean;
  /** The whole resolved architecture. */
  readonly resolved: ResolvedArchitecture;
  /** The step's parameter prefix (as in {@linkcode ParamContext}). */
  readonly prefix: string;
  /**
   * A parameter's buffer.
   * @param name full Hugging Face name.
   * @throws when the model has no such parameter.
   */
  param(name: string): Buf;
  /** An optional parameter's buffer, `undefined` when the model lacks it. */
  maybeParam(name: string): Buf | undefined;
  /**
   * Appends one op.
   * @param op the op's name (a built-in of `program/ops.ts` or one of the
   *   module's own `ops`).
   * @param inputs input buffers; `undefined` for an absent optional input.
   * @param outputs each output's local name (scoped by the step, e.g. `xz`
   *   becomes `layers.3.mixer.xz`) and shape.
   * @param attrs the op's settings.
   * @returns the output buffers, in order.
   */
  op(
    op: string,
    inputs: readonly (Buf | undefined)[],
    outputs: readonly (readonly [string, Shape])[],
    attrs?: Readonly<Record<string, AttrValue>>,
  ): Buf[];
  /** A running count per key (e.g. dropout's seed offset): 0, 1, 2, … */
  count(key: string): number;
  /**
   * The same lowering with a nested buffer scope and parameter prefix (the
   * residual hands its mixer `within("mixer", "backbone.layers.3.mixer")`).
   */
  within(scope: string, prefix: string): Lowering;
  /**
   * Step mode: declares layer `layer`'s incoming state as program inputs.
   * @param shapes the state's shapes (batch as `"b"`).
   * @returns the state buffers.
   */
  stateIn(layer: number, shapes: { conv: Shape; ssm: Shape }): StateBufs;
  /** Prefill and step: declares layer `layer`'s outgoing state. */
  stateOut(layer: number, state: StateBufs): void;
  /** Classifier heads: the scores before the final activation. */
  setRaw(buf: Buf): void;
}

/**
 * A top-level node kind: one kind of plan step.
 *
 * `lower` receives the hidden state `x` — for `embedding`, the ids buffer —
 * and returns the step's output: (b, l, d) hidden states in the parallel
 * modes, (b, d) in step mode; heads return logits or class scores.
 */
export interface NodeKind<S extends PlanStep> {
  /**
   * The step's parameters.
   * @returns specs by full Hugging Face name, in creation order (initial
   *   values are drawn in this order).
   */
  params(step: S, ctx: ParamContext): Record<string, ParamSpec>;
  /** Lowers the step for `ctx.mode`. */
  lower(step: S, x: Buf, ctx: Lowering): Buf;
  /** Ops this kind adds to the built-ins, with their tfjs implementation. */
  readonly ops?: Readonly<Record<string, TfjsOp>>;
  /** Optional: the WebGPU executor's binding of those ops (prebuilt kernels);
   * a program with an op that has none runs on the tfjs executor only. */
  readonly webgpuOps?: Readonly<Record<string, GpuOp>>;
}

/**
 * A mixer kind: what stands inside a `residual` (`mamba`, …). A stack may
 * mix kinds; the residual block wraps each one as norm → mixer → add.
 */
export interface MixerKind<M extends ResolvedMixer> {
  /**
   * The mixer's parameters under `ctx.prefix` (`backbone.layers.{i}.mixer`).
   * @returns specs by full Hugging Face name, in creation order.
   */
  params(mixer: M, ctx: ParamContext): Record<string, ParamSpec>;
  /**
   * Lowers the mixer for `ctx.mode`.
   * @param x the normalised input: (b, l, d), or (b, d) in step mode.
   * @param state step mode: the incoming state buffers (shapes from
   *   {@linkcode MixerKind.stateShape}); otherwise undefined.
   * @returns y with x's shape and, in prefill and step modes, the state after
   *   the last token.
   */
  lower(
    mixer: M,
    x: Buf,
    ctx: Lowering,
    state?: StateBufs,
  ): { y: Buf; state?: StateBufs };
  /** The recurrent state's shapes, batch as `"b"`. */
  stateShape(mixer: M): { conv: Shape; ssm: Shape };
  /** Ops this kind adds to the built-ins, with their tfjs implementation. */
  readonly ops?: Readonly<Record<string, TfjsOp>>;
  /** Optional: the WebGPU executor's binding of those ops (prebuilt kernels);
   * a program with an op that has none runs on the tfjs executor only. */
  readonly webgpuOps?: Readonly<Record<string, GpuOp>>;
}
