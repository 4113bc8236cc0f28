/**
 * Deterministic train / validation / test splits from a seed.
 *
 * @module
 */
import { permutation } from "../_rng.ts";

/** Fractions held out for validation and test. */
export interface SplitOptions {
  /** Fraction for validation (default 0.1). */
  validation?: number;
  /** Fraction for test (default 0.1). */
  test?: number;
  /** Seed of the shuffle (default 0). */
  seed?: number;
}

/** Three disjoint parts of one collection. */
export interface Splits<T> {
  train: T[];
  validation: T[];
  test: T[];
}

/**
 * Shuffles `items` with `seed` and cuts them into train, validation, test.
 * The same seed gives the same split on every machine.
 * @param items the collection.
 * @param options fractions and seed.
 * @returns the three parts.
 * @example
 * ```ts
 * const { train, test } = splitItems([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { seed: 1 });
 * ```
 */
export function splitItems<T>(
  items: T[],
  options: SplitOptions = {},
): Splits<T> {
  const v = options.validation ?? 0.1;
  const t = options.test ?? 0.1;
  if (!(v >= 0 && t >= 0 && v + t < 1)) {
    throw new Error(
      `split: expected validation + test fractions in [0, 1), received validation ${v}, test ${t}`,
    );
  }
  const order = permutation(items.length, options.seed ?? 0).map((i) =>
    items[i]
  );
  const nTest = Math.round(items.length * t);
  const nVal = Math.round(items.length * v);
  return {
    test: order.slice(0, nTest),
    validation: order.slice(nTest, nTest + nVal),
    train: order.slice(nTest + nVal),
  };
}
