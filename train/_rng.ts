/**
 * A small seeded PRNG (sfc32) whose whole state is four 32-bit words, so that
 * a checkpoint can store it and `--resume` continue the same stream.
 *
 * Reference: Chris Doty-Humphrey's PractRand sfc32.
 *
 * @module
 */

/** Serializable state: four unsigned 32-bit words. */
export type RngState = [number, number, number, number];

/** Seeded generator with a serializable state. */
export class Rng {
  #s: Uint32Array;

  /**
   * @param seed any integer, or a saved state from {@linkcode Rng.state}.
   */
  constructor(seed: number | RngState) {
    if (Array.isArray(seed)) {
      this.#s = Uint32Array.from(seed);
      return;
    }
    this.#s = new Uint32Array([0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0]);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** @returns a uniform unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.#s;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** @returns a uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** @returns a uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** @returns a copy of the state, for checkpoints. */
  state(): RngState {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }
}

/**
 * Fisher–Yates permutation of `0..n-1` from a seed.
 * @param n length.
 * @param seed seed of the permutation.
 * @returns the permuted indices.
 */
export function permutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Mixes two integers into one seed (for per-epoch or per-step streams).
 * @returns a 32-bit seed.
 */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul((a >>> 0) ^ 0x85ebca6b, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ (b >>> 0), 0x1b873593);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
