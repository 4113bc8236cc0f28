/**
 * The helpers the SSM mixers' `lower` shares: shapes that keep `x`'s leading
 * axes and a one-output op.
 *
 * @module
 */
import type { AttrValue, Buf, Shape } from "../program/program.ts";
import type { Lowering } from "./node_kind.ts";

/** What {@linkcode mixerLowering} returns. */
export interface MixerLowering {
  /** `x`'s leading axes with a last axis of `width`: (b, l, width) or (b, width). */
  at(width: number): Shape;
  /** Appends one op with a single output `name` of `shape`; returns it. */
  op1(
    op: string,
    inputs: (Buf | undefined)[],
    name: string,
    shape: Shape,
    attrs?: Readonly<Record<string, AttrValue>>,
  ): Buf;
}

/**
 * The shared lowering helpers for input `x`, appending to `ctx`.
 * @param x the mixer's input, (b, l, d) or (b, d).
 * @param ctx the lowering being built.
 */
export function mixerLowering(x: Buf, ctx: Lowering): MixerLowering {
  const lead: Shape = x.shape.slice(0, -1); // (b, l) or (b)
  return {
    at: (width) => [...lead, width],
    op1: (op, inputs, name, shape, attrs = {}) =>
      ctx.op(op, inputs, [[name, shape]], attrs)[0],
  };
}
