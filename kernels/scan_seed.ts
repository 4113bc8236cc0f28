/**
 * The seed's selective scan (the article's reverse-cumsum formulation), kept
 * to show where it fails: it multiplies by exp(Σ_{k>t} Δ_k A) and later divides
 * by the same factor (+1e-12). In float32 that factor underflows once the
 * remaining log-decay passes about −87, and the result is lost: relative error
 * ~1e-5 at l = 64 but ~0.5 at l = 256 at freshly-initialised Δ. Use
 * `chunkedScan` instead; this file exists for tests and benchmarks.
 *
 * Its cumulative sums are the article's (pad-shift, flip, cumsum, flip is
 * the exclusive reverse cumsum), computed on the last axis by
 * {@linkcode cumsumLastAxis}, which is right on every backend: the failure
 * shown is the algorithm's, not a tfjs bug.
 *
 * Reference: the cumsum `selective_scan` of the seed article (PeaBrane,
 * "mamba-tiny"), after johnma2006/mamba-minimal `selective_scan`.
 *
 * @module
 */
import { tf } from "./backend.ts";
import { softplus } from "./_softplus.ts";
import { cumsumLastAxis } from "./_cumsum.ts";
import type { ScanInputs, ScanResult } from "./scan_types.ts";

/**
 * The seed's cumsum scan. Numerically unstable beyond a few dozen steps;
 * no `initialState`.
 *
 * @param inputs u, delta, z (b, l, dIn); A (dIn, n); B, C (b, l, n);
 *   D, deltaBias (dIn).
 * @param options returnState.
 * @returns y (b, l, dIn) and, when asked, the final state (b, dIn, n).
 * @throws Error when `initialState` is given.
 * @example
 * ```ts
 * import { tf } from "./backend.ts";
 * import { seedScan } from "./scan_seed.ts";
 * const { y } = seedScan({
 *   u: tf.ones([1, 8, 2]), delta: tf.fill([1, 8, 2], 0.1),
 *   A: tf.fill([2, 4], -1), B: tf.ones([1, 8, 4]), C: tf.ones([1, 8, 4]),
 * }); // y: (1, 8, 2)
 * ```
 *
 * Reference: the seed article's `selective_scan` (cumsum form).
 */
export function seedScan(
  inputs: ScanInputs,
  options: { returnState?: boolean } = {},
): ScanResult {
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = inputs;
  if (initialState) {
    throw new Error(
      `seedScan: initialState: expected none (the seed's cumsum scan starts from zeros), received shape [${
        initialState.shape.join(", ")
      }]; use impl "chunked"`,
    );
  }
  const [b, l, dIn] = u.shape;
  const n = A.shape[1];
  const out = tf.tidy(() => {
    let dt: tf.Tensor3D = tf.transpose(delta, [0, 2, 1]); // (b, dIn, l)
    if (deltaBias) dt = tf.add(dt, tf.reshape(deltaBias, [1, dIn, 1]));
    if (inputs.deltaSoftplus) dt = softplus(dt);
    // dA = einsum('bld,dn->bldn', Δ, A), here time-last: (b, dIn, n, l)
    const dA = tf.mul(
      tf.reshape(dt, [b, dIn, 1, l]),
      tf.reshape(A, [1, dIn, n, 1]),
    ); // (b, dIn, n, l)
    // pad(dA[:, 1:]).flip.cumsum.exp.flip: exp(Σ_{k>t} dA_k)
    const dACumsum = tf.exp(
      cumsumLastAxis(dA, { exclusive: true, reverse: true }),
    ); // (b, dIn, n, l)
    const dBu = tf.mul(
      tf.reshape(tf.mul(dt, tf.transpose(u, [0, 2, 1])), [b, dIn, 1, l]),
      tf.reshape(tf.transpose(B, [0, 2, 1]), [b, 1, n, l]),
    ); // (b, dIn, n, l)
    const h = tf.div(
      cumsumLastAxis(tf.mul(dBu, dACumsum)),
      tf.add(dACumsum, 1e-12),
    ); // (b, dIn, n, l)
    let y = tf.transpose(
      tf.sum(
        tf.mul(h, tf.reshape(tf.transpose(C, [0, 2, 1]), [b, 1, n, l])),
        2,
      ),
      [0, 2, 1],
    ) as tf.Tensor3D; // (b, l, dIn)
    if (D) y = tf.add(y, tf.mul(u, D));
    if (z) y = tf.mul(y, tf.mul(z, tf.sigmoid(z)));
    if (!options.returnState) return { y };
    const state = tf.reshape(
      tf.slice(h, [0, 0, 0, l - 1], [b, dIn, n, 1]),
      [b, dIn, n],
    ) as tf.Tensor3D; // (b, dIn, n)
    return { y, state };
  });
  return out;
}
