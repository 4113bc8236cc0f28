/**
 * A small seeded random number generator (SplitMix32 state, Box–Muller
 * normals), so that initialisation and sampling are reproducible across
 * backends and runs.
 *
 * @module
 */

/** A seeded generator of uniform and normal floats. */
export class Rng {
  #state: number;
  #spare: number | null = null;

  /** @param seed any integer; equal seeds give equal streams. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** @returns a uniform float in [0, 1) with 32 random bits. */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }

  /** @returns a uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** @returns a normal float with the given mean and standard deviation. */
  normal(mean = 0, std = 1): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return mean + std * s;
    }
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** @returns the generator's state, to resume it later with {@linkcode Rng.restore}. */
  snapshot(): { state: number; spare: number | null } {
    return { state: this.#state, spare: this.#spare };
  }

  /** Restores a state taken by {@linkcode Rng.snapshot}. */
  restore(snapshot: { state: number; spare: number | null }): void {
    this.#state = snapshot.state >>> 0;
    this.#spare = snapshot.spare;
  }
}
