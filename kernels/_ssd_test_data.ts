/**
 * Seeded random SSD inputs for the SSD tests: the same float32 values as flat
 * arrays (for the float64 oracle) and as tensors (for the tfjs forms).
 *
 * @module
 */
import { tf } from "./backend.ts";
import { ssdChunked, type SsdChunkedOptions } from "./ssd_chunked.ts";
import {
  referenceSsdGrad,
  type RefSsdInputs,
  SSD_GRAD_OF,
} from "./ssd_reference.ts";
import { type DtLimit, SSD_INPUT_NAMES, type SsdInputs } from "./ssd_types.ts";
import { relError, rng } from "./_scan_test_data.ts";

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

/**
 * The gradient of every input of ssdChunked, through tf.grads, of
 * sum(y·gy) + sum(state·gs) with random gy, gs, against referenceSsdGrad.
 *
 * @param spec the case; must be `full` (every input given).
 * @param options ssdChunked's options.
 * @returns the relative error of each input's gradient, by input name.
 */
export async function ssdGradErrors(
  spec: SsdCaseSpec,
  options: SsdChunkedOptions,
  seed = 7,
): Promise<Record<string, number>> {
  const q = makeSsdCase({ ...spec, full: true }, seed);
  const r = rng(seed + 92);
  const gy = Float32Array.from(
    { length: q.b * q.l * q.h * q.p },
    () => r() - 0.5,
  );
  const gs = Float32Array.from(
    { length: q.b * q.h * q.p * q.n },
    () => r() - 0.5,
  );
  const want = referenceSsdGrad(q, gy, gs);
  const inputs = toSsdTensors(q);
  const names = SSD_INPUT_NAMES;
  const xs = names.map((k) => inputs[k] as tf.Tensor);
  const gyT = tf.tensor4d(gy, [q.b, q.l, q.h, q.p]);
  const gsT = tf.tensor4d(gs, [q.b, q.h, q.p, q.n]);
  const grads = tf.grads((...args: tf.Tensor[]) => {
    const given = Object.fromEntries(names.map((k, i) => [k, args[i]]));
    const { y, state } = ssdChunked(
      { ...inputs, ...given } as unknown as SsdInputs,
      options,
    );
    return tf.add(tf.sum(tf.mul(y, gyT)), tf.sum(tf.mul(state, gsT)));
  })(xs);
  const errors: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) {
    errors[names[i]] = relError(
      await grads[i].data(),
      want[SSD_GRAD_OF[names[i]]]!,
    );
  }
  tf.dispose([...grads, ...xs, gyT, gsT]);
  return errors;
}
