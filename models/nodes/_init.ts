/**
 * Private: parameter specs and the initialisers the node kinds use.
 * Linear and conv weights without a special rule follow PyTorch's defaults,
 * U(±1/√fanIn).
 *
 * @module
 */
import type { Rng } from "../_rng.ts";

/** A named parameter: its shape and float32 values. */
export interface ParamSpec {
  /** The parameter's shape (torch layout: Linear weights are (out, in)). */
  shape: number[];
  /** Draws its initial values (`size` = product of `shape`). */
  init: (rng: Rng, size: number) => Float32Array;
}

/** @returns an initialiser drawing U(−bound, bound). */
export const uniform = (bound: number) => (rng: Rng, size: number) => {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(-bound, bound);
  return out;
};

/** @returns an initialiser drawing N(0, std²). */
export const normal = (std: number) => (rng: Rng, size: number) => {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal(0, std);
  return out;
};

/** @returns an initialiser filling `value` (draws nothing). */
export const constant = (value: number) => (_rng: Rng, size: number) =>
  new Float32Array(size).fill(value);

/** Inverse of softplus: log(exp(x) − 1), written stably as x + log(−expm1(−x)). */
export function inverseSoftplus(x: number): number {
  return x + Math.log(-Math.expm1(-x));
}

/**
 * @returns the time-step bias initialiser of Mamba-1 and Mamba-2:
 * dt = max(exp(U(log dtMin, log dtMax)), dtFloor), stored as softplus⁻¹(dt).
 * Reference: state-spaces/mamba `mamba_simple.py` and `mamba2.py` dt init.
 */
export const dtBiasInit =
  (m: { dtMin: number; dtMax: number; dtFloor: number }) =>
  (rng: Rng, size: number): Float32Array => {
    const out = new Float32Array(size);
    const lo = Math.log(m.dtMin), hi = Math.log(m.dtMax);
    for (let i = 0; i < size; i++) {
      const dt = Math.max(Math.exp(rng.uniform(lo, hi)), m.dtFloor);
      out[i] = inverseSoftplus(dt);
    }
    return out;
  };

/**
 * The optional biases of a Mamba mixer, in init order: `conv1d.bias`
 * (U(±1/√k), with `convBias`), then `in_proj.bias` and `out_proj.bias`
 * (zeros, with `bias`).
 *
 * @param p the mixer's checkpoint prefix
 * @param m the mixer's switches
 * @param widths conv channels, in_proj output width, model width d, conv width k
 * @returns the specs to add (none when both switches are off)
 */
export function optionalBiases(
  p: string,
  m: { convBias: boolean; bias: boolean },
  widths: { conv: number; inProj: number; d: number; k: number },
): Record<string, ParamSpec> {
  const specs: Record<string, ParamSpec> = {};
  if (m.convBias) {
    specs[`${p}.conv1d.bias`] = {
      shape: [widths.conv],
      init: uniform(1 / Math.sqrt(widths.k)),
    };
  }
  if (m.bias) {
    specs[`${p}.in_proj.bias`] = {
      shape: [widths.inProj],
      init: constant(0),
    };
    specs[`${p}.out_proj.bias`] = { shape: [widths.d], init: constant(0) };
  }
  return specs;
}
