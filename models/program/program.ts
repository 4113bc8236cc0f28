/**
 * The program: a model lowered once, for one mode, into ops over named
 * buffers with symbolic shapes, in execution order. Every executor runs the
 * same program (the tfjs executor in `tfjs_executor.ts`).
 *
 * Dimension letters in shapes: `"b"` batch and `"l"` length are bound when a
 * program runs (from the ids); every other size is a number.
 *
 * @module
 */

/** A size in a buffer's shape: a number, or the batch / length of the call. */
export type Dim = number | "b" | "l";

/** A buffer's shape, e.g. `["b", "l", 2 * dIn]`. */
export type Shape = readonly Dim[];

/** What the program computes.
 * - `forward`: the parallel forward (no dropout);
 * - `train`: the parallel forward with dropout active (differentiated by the
 *   trainer);
 * - `prefill`: the parallel forward from a zero state that also returns the
 *   recurrent state after the last token;
 * - `step`: one token per sequence, from a state to the next state. */
export type Mode = "forward" | "train" | "prefill" | "step";

/** A named buffer and its shape. */
export interface Buf {
  /** Unique name in the program: a parameter's Hugging Face name, `ids`, or
   * a scoped intermediate such as `layers.3.mixer.xz`. */
  readonly name: string;
  /** Its shape. */
  readonly shape: Shape;
}

/** An op attribute: plain data only, so programs print and compare. */
export type AttrValue = number | string | boolean | null | readonly number[];

/** One op of a program. */
export interface Op {
  /** The op's name: a built-in (`program/ops.ts`) or one a node kind adds. */
  readonly op: string;
  /** Input buffer names, `null` for an absent optional input. */
  readonly inputs: readonly (string | null)[];
  /** Output buffers, each defined once in the program. */
  readonly outputs: readonly Buf[];
  /** The op's settings. */
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** Recurrent state buffers of one layer (same keys as `LayerState`). */
export interface StateBufs {
  /** (b, k-1, channels) the conv window. */
  readonly conv: Buf;
  /** The SSM state, e.g. (b, dIn, n) for Mamba-1. */
  readonly ssm: Buf;
}

/** A model lowered for one mode. */
export interface Program {
  /** What it computes. */
  readonly mode: Mode;
  /** Prefill only: the LM head sees the last position only. */
  readonly lastOnly: boolean;
  /** The token ids input: (b, l), or (b) in step mode. */
  readonly ids: Buf;
  /** Parameters read, by Hugging Face name, with their shapes. */
  readonly params: ReadonlyMap<string, Shape>;
  /** Step mode: the incoming state, one entry per residual layer. */
  readonly stateIn: readonly StateBufs[];
  /** Prefill and step: the outgoing state, one entry per residual layer. */
  readonly stateOut: readonly StateBufs[];
  /** The ops, in execution order. */
  readonly ops: readonly Op[];
  /** The head's output: logits (b, l, v) / (b, v), or class probabilities (b, c). */
  readonly output: Buf;
  /** Classifier heads: the scores before the final activation (b, c). */
  readonly raw?: Buf;
}

/**
 * Binds a symbolic shape to a call's batch and length.
 * @param shape the symbolic shape.
 * @param b batch.
 * @param l length (ignored in step-mode shapes, which have no `"l"`).
 * @returns the numeric shape.
 */
export function bindShape(shape: Shape, b: number, l: number): number[] {
  return shape.map((d) => d === "b" ? b : d === "l" ? l : d);
}

/**
 * A program as text, one op a line: what a reader (or a test) checks.
 * @param program the program.
 * @returns e.g. `layers.0.mixer.xz [b,l,64] = linear(layers.0.norm.y, …)`.
 */
export function formatProgram(program: Program): string {
  const lines = program.ops.map((op) => {
    const outs = op.outputs.map((o) => `${o.name} [${o.shape}]`).join(", ");
    const attrs = Object.entries(op.attrs).map(([k, v]) =>
      `${k}=${JSON.stringify(v)}`
    );
    const args = [...op.inputs.map((i) => i ?? "∅"), ...attrs].join(", ");
    return `${outs} = ${op.op}(${args})`;
  });
  return [
    `program ${program.mode}${program.lastOnly ? " (last only)" : ""}`,
    ...lines,
  ].join("\n");
}
