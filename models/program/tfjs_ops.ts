/**
 * The built-in ops of a program and their tfjs implementations. Each op
 * takes input tensors (in the program's order, `undefined` for an absent
 * optional input) and returns its outputs; all are differentiable by tfjs.
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` inner width,
 * `n` state size, `k` conv width, `v` vocab, `c` classes. Shapes below
 * are the parallel modes'; in step mode the `l` axis is absent.
 *
 * | op                | inputs                                          | outputs                 | attrs |
 * |-------------------|-------------------------------------------------|-------------------------|-------|
 * | `gather`          | table (v, d), ids (b, l)                        | (b, l, d)               | |
 * | `norm`            | x (…, d), weight (d), bias? (d)                 | (…, d)                  | kind, eps |
 * | `linear`          | x (…, in), weight (out, in), bias? (out)        | (…, out)                | |
 * | `matmul_t`        | x (…, in), weight (out, in)                     | (…, out)                | |
 * | `add`             | a, b (same shape)                               | a + b                   | |
 * | `slice_last`      | x (…, m)                                        | x[…, start:start+size]  | start, size |
 * | `last_position`   | x (b, l, d)                                     | (b, 1, d)               | |
 * | `neg_exp`         | x                                               | −exp(x)                 | |
 * | `causal_conv_silu`| xz (b, l, ≥dIn), weight (dIn, 1, k), bias?, history? (b, k-1, dIn) | u (b, l, dIn), history (b, k-1, dIn) | |
 * | `conv_silu_step`  | x (b, dIn), weight, bias?, history (b, k-1, dIn) | u (b, dIn), history    | |
 * | `selective_scan`  | u, delta, A, B, C, D?, z?, deltaBias?, state?   | y (b, l, dIn), state? (b, dIn, n) | impl, softplus, returnState |
 * | `scan_step`       | u, delta, A, B, C, D?, z?, deltaBias?, state    | y (b, dIn), state       | softplus |
 * | `dropout`         | x                                               | x with dropout          | rate, index |
 * | `pool`            | h (b, l, d)                                     | (b, d) or (b, l·d)      | pooling, seqLen |
 * | `activate`        | x                                               | f(x)                    | fn |
 *
 * @module
 */
import { tf } from "../../kernels/backend.ts";
import { selectiveScan } from "../../kernels/selective_scan.ts";
import "../../kernels/webgpu/register.ts";
import { selectiveScanStep } from "../../kernels/scan_step.ts";
import type { ScanImpl } from "../../kernels/scan_types.ts";
import type { NormNode } from "../../dsl/schema.ts";
import {
  applyNorm,
  type Linear,
  linear,
  matMulTransposed,
} from "../_layers.ts";
import { activate, pool } from "../_head.ts";
import { causalConvSilu, convSiluStep } from "../mixer.ts";
import type { AttrValue } from "./program.ts";

/** What a tfjs op sees besides its inputs. */
export interface TfjsEnv {
  /** x · Wᵀ + bias for `linear` (the step program on wasm passes one that
   * keeps transposed weights). */
  readonly linear: Linear;
  /** Seed of the dropout masks (train mode). */
  readonly seed: number;
}

/** A tfjs implementation of one op. */
export type TfjsOp = (
  inputs: readonly (tf.Tensor | undefined)[],
  attrs: Readonly<Record<string, AttrValue>>,
  env: TfjsEnv,
) => tf.Tensor[];

/** The built-in ops' tfjs implementations, by op name. */
export const TFJS_OPS: Readonly<Record<string, TfjsOp>> = {
  gather: ([table, ids]) => [tf.gather(table!, ids!)],
  norm: ([x, weight, bias], a) => [
    applyNorm(
      { kind: a.kind, eps: a.eps } as NormNode,
      x!,
      weight!,
      bias,
    ),
  ],
  linear: ([x, weight, bias], _a, env) => [env.linear(x!, weight!, bias)],
  matmul_t: ([x, weight]) => {
    const shape = x!.shape;
    const flat = x!.reshape([-1, shape[shape.length - 1]]) as tf.Tensor2D; // (·, in)
    const y = matMulTransposed(flat, weight as tf.Tensor2D); // (·, out)
    return [y.reshape([...shape.slice(0, -1), -1])];
  },
  add: ([a, b]) => [tf.add(a!, b!)],
  slice_last: ([x], a) => {
    const begin = x!.shape.map(() => 0);
    const size = x!.shape.slice();
    begin[begin.length - 1] = a.start as number;
    size[size.length - 1] = a.size as number;
    return [x!.slice(begin, size)];
  },
  last_position: ([x]) => {
    const [b, l, d] = x!.shape;
    return [x!.slice([0, l - 1, 0], [b, 1, d])]; // (b, 1, d)
  },
  neg_exp: ([x]) => [tf.neg(tf.exp(x!))],
  causal_conv_silu: ([xz, weight, bias, history]) => {
    const r = causalConvSilu(
      xz as tf.Tensor3D,
      history as tf.Tensor3D | undefined,
      weight as tf.Tensor3D,
      bias as tf.Tensor1D | undefined,
    );
    return [r.u, r.history];
  },
  conv_silu_step: ([x, weight, bias, history]) => {
    const r = convSiluStep(
      x as tf.Tensor2D,
      history as tf.Tensor3D,
      weight as tf.Tensor3D,
      bias as tf.Tensor1D | undefined,
    );
    return [r.u, r.history];
  },
  selective_scan: ([u, delta, A, B, C, D, z, deltaBias, state], a) => {
    const r = selectiveScan({
      u: u as tf.Tensor3D,
      delta: delta as tf.Tensor3D,
      A: A as tf.Tensor2D,
      B: B as tf.Tensor3D,
      C: C as tf.Tensor3D,
      D: D as tf.Tensor1D | undefined,
      z: z as tf.Tensor3D | undefined,
      deltaBias: deltaBias as tf.Tensor1D | undefined,
      deltaSoftplus: a.softplus as boolean,
      initialState: state as tf.Tensor3D | undefined,
    }, {
      impl: a.impl as ScanImpl,
      returnState: a.returnState as boolean,
    });
    return r.state ? [r.y, r.state] : [r.y];
  },
  scan_step: ([u, delta, A, B, C, D, z, deltaBias, state], a) => {
    const r = selectiveScanStep({
      u: u as tf.Tensor2D,
      delta: delta as tf.Tensor2D,
      A: A as tf.Tensor2D,
      B: B as tf.Tensor2D,
      C: C as tf.Tensor2D,
      D: D as tf.Tensor1D | undefined,
      z: z as tf.Tensor2D | undefined,
      deltaBias: deltaBias as tf.Tensor1D | undefined,
      deltaSoftplus: a.softplus as boolean,
      state: state as tf.Tensor3D,
    });
    return [r.y, r.state];
  },
  dropout: ([x], a, env) => [
    tf.dropout(
      x!,
      a.rate as number,
      undefined,
      env.seed * 1009 + (a.index as number),
    ),
  ],
  pool: ([h], a) => [
    pool(h as tf.Tensor3D, a.pooling as string, a.seqLen as number | null),
  ],
  activate: ([x], a) => [activate(a.fn as string, x!)],
};

/** The default {@linkcode TfjsEnv.linear}. */
export const defaultLinear: Linear = linear;
