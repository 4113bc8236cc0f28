/**
 * Seeded random scan inputs for the scan tests: the same float32 values as
 * flat arrays (for the float64 oracle) and as tensors (for the tfjs
 * implementations), plus the error measure the tests use.
 *
 * @module
 */
import { tf } from "./backend.ts";
import type { RefScanInputs } from "./scan_reference.ts";
import type { ScanInputs } from "./scan_types.ts";

/** Sizes and which optional inputs to draw. */
export interface CaseSpec {
  b: number;
  l: number;
  dIn: number;
  n: number;
  /** Draw D, z, deltaBias (with softplus) and initialState. */
  full?: boolean;
  /**
   * "wide": Δ' log-uniform in [1e-3, 4], A = −exp(N(0, 1));
   * "init": Δ' = softplus(inverse-softplus(dt)), dt log-uniform in
   * [1e-3, 1e-1], A = −(1..n) (A_log = log(1..n)), as at initialisation.
   */
  regime?: "wide" | "init";
}

/** Deterministic uniform [0, 1) generator (LCG). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** @returns float32-rounded flat arrays of one random case. */
export function makeCase(spec: CaseSpec, seed = 1): RefScanInputs {
  const r = rng(seed);
  const { b, l, dIn, n, full = false, regime = "wide" } = spec;
  const normal = () =>
    Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const arr = (len: number, f: () => number) =>
    Float32Array.from({ length: len }, f);
  const logUniform = (lo: number, hi: number) =>
    Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * r());
  // Δ before bias/softplus: with softplus, its inverse of the target Δ'.
  const invSoftplus = (y: number) => y + Math.log(-Math.expm1(-y));
  const target = regime === "init"
    ? () => logUniform(1e-3, 1e-1)
    : () => logUniform(1e-3, 4);
  const deltaBias = full ? arr(dIn, () => 0.1 * normal()) : undefined;
  const delta = arr(b * l * dIn, () => 0);
  for (let j = 0; j < delta.length; j++) {
    const dt = target();
    delta[j] = full ? invSoftplus(dt) - deltaBias![j % dIn] : dt;
  }
  return {
    b,
    l,
    dIn,
    n,
    u: arr(b * l * dIn, normal),
    delta,
    A: regime === "init"
      ? Float32Array.from({ length: dIn * n }, (_, i) => -(1 + (i % n)))
      : arr(dIn * n, () => -Math.exp(normal())),
    B: arr(b * l * n, normal),
    C: arr(b * l * n, normal),
    D: full ? arr(dIn, normal) : undefined,
    z: full ? arr(b * l * dIn, normal) : undefined,
    deltaBias,
    deltaSoftplus: full,
    initialState: full ? arr(b * dIn * n, normal) : undefined,
  };
}

/** @returns the same values as tensors on the active backend. */
export function toTensors(p: RefScanInputs): ScanInputs {
  const { b, l, dIn, n } = p;
  const f = (v: ArrayLike<number>) => Float32Array.from(v);
  return {
    u: tf.tensor3d(f(p.u), [b, l, dIn]),
    delta: tf.tensor3d(f(p.delta), [b, l, dIn]),
    A: tf.tensor2d(f(p.A), [dIn, n]),
    B: tf.tensor3d(f(p.B), [b, l, n]),
    C: tf.tensor3d(f(p.C), [b, l, n]),
    D: p.D ? tf.tensor1d(f(p.D)) : undefined,
    z: p.z ? tf.tensor3d(f(p.z), [b, l, dIn]) : undefined,
    deltaBias: p.deltaBias ? tf.tensor1d(f(p.deltaBias)) : undefined,
    deltaSoftplus: p.deltaSoftplus,
    initialState: p.initialState
      ? tf.tensor3d(f(p.initialState), [b, dIn, n])
      : undefined,
  };
}

/** @returns ‖got − want‖₂ / ‖want‖₂. */
export function relError(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}
