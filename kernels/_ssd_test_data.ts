/**
 * Seeded random SSD inputs for the SSD tests: the same float32 values as flat
 * arrays (for the float64 oracle) and as tensors (for the tfjs forms).
 *
 * @module
 */
import { tf } from "./backend.ts";
import type { RefSsdInputs } from "./ssd_reference.ts";
import type { DtLimit, SsdInputs } from "./ssd_types.ts";
import { rng } from "./_scan_test_data.ts";

/** Sizes and which optional inputs to draw. */
export interface SsdCaseSpec {
  b: number;
  l: number;
  h: number;
  p: number;
  g: number;
  n: number;
  /** Draw D, dtBias (with softplus) and initialState. */
  full?: boolean;
  /** Clamp Δ' (only with `full`). */
  dtLimit?: DtLimit;
  /** Δ' log-uniform in [1e-3, dtMax] (default 1). */
  dtMax?: number;
}

/** @returns float32-rounded flat arrays of one random case. */
export function makeSsdCase(spec: SsdCaseSpec, seed = 1): RefSsdInputs {
  const r = rng(seed);
  const { b, l, h, p, g, n, full = false, dtMax = 1 } = spec;
  const normal = () =>
    Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const arr = (len: number, f: () => number) =>
    Float32Array.from({ length: len }, f);
  const logUniform = (lo: number, hi: number) =>
    Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * r());
  const invSoftplus = (y: number) => y + Math.log(-Math.expm1(-y));
  const dtBias = full ? arr(h, () => 0.1 * normal()) : undefined;
  const dt = arr(b * l * h, () => 0);
  for (let j = 0; j < dt.length; j++) {
    const v = logUniform(1e-3, dtMax);
    dt[j] = full ? invSoftplus(v) - dtBias![j % h] : v;
  }
  return {
    b,
    l,
    h,
    p,
    g,
    n,
    x: arr(b * l * h * p, normal),
    dt,
    A: arr(h, () => -Math.exp(normal())),
    B: arr(b * l * g * n, normal),
    C: arr(b * l * g * n, normal),
    D: full ? arr(h, normal) : undefined,
    dtBias,
    dtSoftplus: full,
    dtLimit: full ? spec.dtLimit : undefined,
    initialState: full ? arr(b * h * p * n, normal) : undefined,
  };
}

/** @returns the same values as tensors on the active backend. */
export function toSsdTensors(q: RefSsdInputs): SsdInputs {
  const { b, l, h, p, g, n } = q;
  const f = (v: ArrayLike<number>) => Float32Array.from(v);
  return {
    x: tf.tensor4d(f(q.x), [b, l, h, p]),
    dt: tf.tensor3d(f(q.dt), [b, l, h]),
    A: tf.tensor1d(f(q.A)),
    B: tf.tensor4d(f(q.B), [b, l, g, n]),
    C: tf.tensor4d(f(q.C), [b, l, g, n]),
    D: q.D ? tf.tensor1d(f(q.D)) : undefined,
    dtBias: q.dtBias ? tf.tensor1d(f(q.dtBias)) : undefined,
    dtSoftplus: q.dtSoftplus,
    dtLimit: q.dtLimit,
    initialState: q.initialState
      ? tf.tensor4d(f(q.initialState), [b, h, p, n])
      : undefined,
  };
}
