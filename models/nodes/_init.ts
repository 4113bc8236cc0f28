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
