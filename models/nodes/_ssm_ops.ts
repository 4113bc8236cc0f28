/**
 * Private: the program ops the Mamba-2 and Falcon-Mamba mixers add to the
 * built-ins (`../program/tfjs_ops.ts`), with their tfjs implementations
 * (differentiable by tfjs). Shapes are the parallel modes'; in step mode
 * the `l` axis is absent.
 *
 * Glossary: `b` batch, `l` length, `h` heads, `p` head dim, `g` groups,
 * `n` state size, `dIn` = h·p inner width.
 *
 * | op               | inputs                                         | outputs                            | attrs |
 * |------------------|------------------------------------------------|------------------------------------|-------|
 * | `ssd`            | x (b, l, dIn), dt (b, l, h), A (h), B, C (b, l, g·n), D (h), dtBias (h), state? (b, dIn, n) | y (b, l, dIn), state? (b, dIn, n) | heads, groups, chunkSize, dtLo, dtHi, returnState |
 * | `ssd_step`       | x (b, dIn), dt (b, h), A, B, C (b, g·n), D, dtBias, state (b, dIn, n) | y (b, dIn), state | heads, groups |
 * | `gated_rms_norm` | y (…, dIn), z (…, dIn), weight (dIn)           | RMS(y · SiLU(z)) · weight          | groupSize, eps |
 * | `rms_unit`       | x (…, m)                                       | x / √(mean(x²) + eps)              | eps |
 *
 * The SSD state (b, h, p, n) travels as (b, dIn, n): the same elements, so
 * a model's state has one shape family for every mixer kind.
 *
 * Reference: Dao & Gu (2024) §6–7; state-spaces/mamba `modules/mamba2.py`
 * (`RMSNormGated`, norm_before_gate=False); transformers 5.17
 * `modeling_mamba2.py` (`MambaRMSNormGated`) and `modeling_falcon_mamba.py`
 * (`rms_forward`).
 *
 * @module
 */
import { tf } from "../../kernels/backend.ts";
import { ssdChunked } from "../../kernels/ssd_chunked.ts";
import { ssdStep } from "../../kernels/ssd_step.ts";
import type { DtLimit } from "../../kernels/ssd_types.ts";
import { silu } from "../_layers.ts";
import type { TfjsOp } from "../program/tfjs_ops.ts";
import type { AttrValue } from "../program/program.ts";

type Attrs = Readonly<Record<string, AttrValue>>;

/** The time-step limit of the attrs, or undefined when it cannot clamp. */
function dtLimitOf(a: Attrs): DtLimit | undefined {
  const lo = a.dtLo as number;
  const hi = a.dtHi === null ? Infinity : a.dtHi as number;
  return lo <= 0 && hi === Infinity ? undefined : [lo, hi];
}

/** x / √(mean(x²) + eps) over the last axis, no weight. */
function rmsUnit(x: tf.Tensor, eps: number): tf.Tensor {
  const ms = tf.mean(tf.square(x), x.rank - 1, true); // (…, 1)
  return tf.mul(x, tf.rsqrt(tf.add(ms, eps)));
}

/** The Mamba-2 and Falcon-Mamba ops, by name. */
export const SSM_OPS: Readonly<Record<string, TfjsOp>> = {
  ssd: ([x, dt, A, B, C, D, dtBias, state], a) => {
    const [b, l, dIn] = x!.shape;
    const h = a.heads as number, g = a.groups as number;
    const p = dIn / h, n = (B!.shape[2] as number) / g;
    const r = ssdChunked({
      x: tf.reshape(x!, [b, l, h, p]) as tf.Tensor4D, // (b, l, h, p)
      dt: dt as tf.Tensor3D, // (b, l, h)
      A: A as tf.Tensor1D,
      B: tf.reshape(B!, [b, l, g, n]) as tf.Tensor4D, // (b, l, g, n)
      C: tf.reshape(C!, [b, l, g, n]) as tf.Tensor4D, // (b, l, g, n)
      D: D as tf.Tensor1D | undefined,
      dtBias: dtBias as tf.Tensor1D | undefined,
      dtSoftplus: true,
      dtLimit: dtLimitOf(a),
      initialState: state
        ? tf.reshape(state, [b, h, p, n]) as tf.Tensor4D
        : undefined,
    }, { chunkSize: a.chunkSize as number });
    const y = tf.reshape(r.y, [b, l, dIn]); // (b, l, dIn)
    return a.returnState
      ? [y, tf.reshape(r.state, [b, dIn, n])] // (b, dIn, n)
      : [y];
  },
  ssd_step: ([x, dt, A, B, C, D, dtBias, state]) => {
    const [b, dIn, n] = state!.shape;
    const h = dt!.shape[1] as number, p = dIn / h;
    const g = (B!.shape[1] as number) / n;
    const r = ssdStep({
      x: tf.reshape(x!, [b, h, p]) as tf.Tensor3D, // (b, h, p)
      dt: dt as tf.Tensor2D, // (b, h)
      A: A as tf.Tensor1D,
      B: tf.reshape(B!, [b, g, n]) as tf.Tensor3D, // (b, g, n)
      C: tf.reshape(C!, [b, g, n]) as tf.Tensor3D,
      D: D as tf.Tensor1D | undefined,
      dtBias: dtBias as tf.Tensor1D | undefined,
      dtSoftplus: true,
      // no dtLimit: the official step and HF's decode do not clamp
      state: tf.reshape(state!, [b, h, p, n]) as tf.Tensor4D,
    });
    return [tf.reshape(r.y, [b, dIn]), tf.reshape(r.state, [b, dIn, n])];
  },
  gated_rms_norm: ([y, z, weight], a) => {
    const gated = tf.mul(y!, silu(z!)); // (…, dIn)
    const shape = gated.shape;
    const dIn = shape[shape.length - 1];
    const size = a.groupSize as number;
    const grouped = tf.reshape(gated, [
      ...shape.slice(0, -1),
      dIn / size,
      size,
    ]); // (…, G, size)
    const normed = tf.reshape(rmsUnit(grouped, a.eps as number), shape); // (…, dIn)
    return [tf.mul(normed, weight!)];
  },
  rms_unit: ([x], a) => [rmsUnit(x!, a.eps as number)],
};
