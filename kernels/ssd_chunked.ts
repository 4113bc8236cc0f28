/**
 * The Mamba-2 SSD in chunks, made only of tfjs ops: runs on cpu, wasm and
 * webgpu, is differentiated by tfjs autodiff, and stays at float32 round-off
 * at every sequence length.
 *
 * With a = Δ'A ≤ 0 per (step, head) and chunks of Q steps (Dao & Gu §6):
 * 1. within a chunk, the quadratic ("attention") form
 *    y_t = Σ_{s≤t} (C_t·B_s) exp(Σ_{s<k≤t} a_k) Δ'_s x_s;
 * 2. each chunk's end state from a zero start,
 *    Σ_s exp(Σ_{s<k<Q} a_k) Δ'_s x_s B_sᵀ;
 * 3. the chunk ends chained by the same quadratic form over chunks (a
 *    (c+1)×(c+1) decay matrix, the initial state in front), giving every
 *    chunk's true start state and the final state;
 * 4. the start state's contribution exp(Σ_{k≤t} a_k) C_t s_start.
 * Every exponent is a sum of a ≤ 0 over a segment inside one chunk (or over
 * whole chunks in step 3) — the "segsum" is summed directly over each
 * segment's own terms (a masked cumulative sum), not as a difference of two
 * long prefix sums — and is clamped ≤ 0 before `exp`: nothing is divided by an
 * exponential and nothing overflows. Padding past the end uses Δ' = 0 (decay
 * 1, no input), the identity step. Long sequences run in segments of whole
 * chunks that carry the state, so the largest intermediate, (…, Q, Q) per
 * chunk, stays within a fixed budget. Cumulative sums go through
 * `cumsumLastAxis` (tfjs' own Cumsum is wrong on webgpu across lengths).
 *
 * Reference: Dao & Gu, "Transformers are SSMs" (2024), §6 and Listing 1
 * (`ssd_minimal_discrete`, `segsum`); transformers
 * `Mamba2Mixer.torch_forward` (the naive SSD path).
 *
 * @module
 */
import { tf } from "./backend.ts";
import { cumsumLastAxis } from "./_cumsum.ts";
import { checkHeadsAndDt, expectShape, processDt } from "./_ssd_common.ts";
import type { SsdInputs, SsdResult } from "./ssd_types.ts";

/** Chunk length Q used when none is given (`Mamba2Config.chunk_size` default). */
export const DEFAULT_SSD_CHUNK_SIZE = 256;

/** Largest (…, Q, Q) intermediate per segment, in elements (16 MiB of f32). */
const SEGMENT_BUDGET = 1 << 22;

/** Options of {@linkcode ssdChunked}. */
export interface SsdChunkedOptions {
  /** Chunk length Q (default {@linkcode DEFAULT_SSD_CHUNK_SIZE}). */
  chunkSize?: number;
  /** Chunks per segment (default: the most within a 4 Mi-element budget). */
  segmentChunks?: number;
}

/**
 * exp of every within-segment sum of a, as a matrix.
 *
 * @param a (…, T) exponents ≤ 0.
 * @returns (…, T, T) [s, t] = exp(Σ_{s<k≤t} a_k) for t ≥ s, else 0.
 */
function segsumExp(a: tf.Tensor): tf.Tensor {
  const T = a.shape[a.rank - 1];
  const strict = new Float32Array(T * T); // [s, k] = 1 where k > s
  const causal = new Float32Array(T * T); // [s, t] = 1 where t ≥ s
  for (let s = 0; s < T; s++) {
    for (let k = s; k < T; k++) {
      causal[s * T + k] = 1;
      if (k > s) strict[s * T + k] = 1;
    }
  }
  const masked = tf.mul(tf.expandDims(a, -2), tf.tensor2d(strict, [T, T])); // (…, T, T)
  const sums = cumsumLastAxis(masked); // (…, T, T) Σ_{s<k≤t} a_k
  return tf.mul(tf.exp(tf.minimum(sums, 0)), tf.tensor2d(causal, [T, T]));
}

/**
 * The SSD on one segment; heads grouped as (b·g, k = h/g).
 *
 * @param xdt (bg, k, len, p) Δ' x.
 * @param a (bg, k, len) Δ'A ≤ 0.
 * @param B (bg, len, n)
 * @param C (bg, len, n)
 * @param h0 (bg, k, p, n) state before the segment, or null for zeros.
 * @param Q chunk length.
 * @returns y (bg, k, len, p) before D, and the end state (bg, k, p, n).
 */
function ssdSegment(
  xdt: tf.Tensor4D,
  a: tf.Tensor3D,
  B: tf.Tensor3D,
  C: tf.Tensor3D,
  h0: tf.Tensor4D | null,
  Q: number,
): { y: tf.Tensor4D; end: tf.Tensor4D } {
  const [bg, k, len, p] = xdt.shape;
  const n = B.shape[2];
  if (len < Q) Q = len; // one chunk: no padding needed (same result)
  const c = Math.ceil(len / Q);
  const pad = c * Q - len;
  if (pad > 0) {
    xdt = tf.pad(xdt, [[0, 0], [0, 0], [0, pad], [0, 0]]); // (bg, k, c·Q, p)
    a = tf.pad(a, [[0, 0], [0, 0], [0, pad]]); // (bg, k, c·Q)
    B = tf.pad(B, [[0, 0], [0, pad], [0, 0]]); // (bg, c·Q, n)
    C = tf.pad(C, [[0, 0], [0, pad], [0, 0]]); // (bg, c·Q, n)
  }
  const R = bg * k * c; // one (Q, ·) block per (batch·group, head, chunk)
  const X = tf.reshape(xdt, [R, Q, p]); // (R, Q, p)
  const a4 = tf.reshape(a, [bg, k, c, Q]); // (bg, k, c, Q)
  // B or C repeated for the k heads of each group (a broadcasting mul:
  // tf.broadcastTo is a Tile, whose gradient stops at rank 4 and whose webgpu
  // kernel reads back to the CPU)
  const ones = tf.ones([1, k, 1, 1, 1]);
  const perHead = (t: tf.Tensor3D) =>
    tf.reshape(tf.mul(tf.reshape(t, [bg, 1, c, Q, n]), ones), [R, Q, n]); // (R, Q, n)

  // 1. within each chunk: y_t = Σ_s (B_s·C_t) L[s, t] X_s
  const L = segsumExp(a4); // (bg, k, c, Q, Q) [s, t]
  const bc = tf.reshape(
    tf.matMul(
      tf.reshape(B, [bg * c, Q, n]),
      tf.reshape(C, [bg * c, Q, n]),
      false,
      true,
    ),
    [bg, 1, c, Q, Q],
  ); // (bg, 1, c, Q, Q) [s, t] = B_s·C_t
  const m = tf.reshape(tf.mul(L, bc), [R, Q, Q]); // (R, Q, Q) [s, t]
  const yDiag = tf.matMul(m, X, true, false); // (R, Q, p)

  // 2. each chunk's end state from zero: Σ_s exp(Σ_{k>s} a_k) X_s B_sᵀ
  // (sliced at rank 3: tfjs-webgpu 4.22 pads rank-5 tensors, the slice's
  // gradient, with zeros)
  const toEnd = tf.slice(tf.reshape(L, [R, Q, Q]), [0, 0, Q - 1], [R, Q, 1]); // (R, Q, 1) = L[s, Q−1]
  const local = tf.matMul(tf.mul(X, toEnd), perHead(B), true, false); // (R, p, n)

  // 3. chain the chunk ends: state before chunk 0 first, then each end
  const first = h0 === null
    ? tf.zeros([bg, k, 1, p * n])
    : tf.reshape(h0, [bg, k, 1, p * n]); // (bg, k, 1, p·n)
  const ends = tf.concat(
    [first, tf.reshape(local, [bg, k, c, p * n])],
    2,
  ); // (bg, k, c+1, p·n)
  const totals = tf.concat([tf.zeros([bg, k, 1]), tf.sum(a4, -1)], 2); // (bg, k, c+1)
  const chain = tf.reshape(segsumExp(totals), [bg * k, c + 1, c + 1]); // [j, i]
  const chained = tf.matMul(
    chain,
    tf.reshape(ends, [bg * k, c + 1, p * n]),
    true,
    false,
  ); // (bg·k, c+1, p·n): [0] = h0, [i] = state after chunk i
  const starts = tf.reshape(
    tf.slice(chained, [0, 0, 0], [bg * k, c, p * n]),
    [R, p, n],
  ); // (R, p, n)
  const end = tf.reshape(
    tf.slice(chained, [0, c, 0], [bg * k, 1, p * n]),
    [bg, k, p, n],
  ); // (bg, k, p, n)

  // 4. the start state's part: exp(Σ_{k≤t} a_k) C_t s_start
  const fromStart = tf.reshape(
    tf.exp(tf.minimum(cumsumLastAxis(a4), 0)),
    [R, Q, 1],
  ); // (R, Q, 1)
  const yOff = tf.mul(
    tf.matMul(perHead(C), starts, false, true),
    fromStart,
  ); // (R, Q, p)

  let y = tf.reshape(tf.add(yDiag, yOff), [bg, k, c * Q, p]); // (bg, k, c·Q, p)
  if (pad > 0) y = tf.slice(y, [0, 0, 0, 0], [bg, k, len, p]);
  return { y: y as tf.Tensor4D, end: end as tf.Tensor4D };
}

function positiveInteger(where: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) {
    throw new Error(
      `ssdChunked: ${where}: expected a positive integer, received ${v}`,
    );
  }
  return v;
}

/** Checks every shape against x's (b, l, h, p) and B's (g, n). */
function checkInputs(inputs: SsdInputs): void {
  const w = "ssdChunked";
  const { x, dt, A, B, C, D, dtBias, initialState } = inputs;
  if (x.rank !== 4) {
    throw new Error(
      `${w}: x: expected shape (b, l, h, p), received (${x.shape.join(", ")})`,
    );
  }
  const [b, l, h, p] = x.shape;
  if (B.rank !== 4) {
    throw new Error(
      `${w}: B: expected shape (b, l, g, n), received (${B.shape.join(", ")})`,
    );
  }
  const [g, n] = B.shape.slice(2);
  expectShape(`${w}: dt`, dt.shape, [b, l, h], "(b, l, h)");
  expectShape(`${w}: A`, A.shape, [h], "(h)");
  expectShape(`${w}: B`, B.shape, [b, l, g, n], "(b, l, g, n)");
  expectShape(`${w}: C`, C.shape, [b, l, g, n], "(b, l, g, n)");
  if (D) expectShape(`${w}: D`, D.shape, [h], "(h)");
  if (dtBias) expectShape(`${w}: dtBias`, dtBias.shape, [h], "(h)");
  if (initialState) {
    expectShape(
      `${w}: initialState`,
      initialState.shape,
      [b, h, p, n],
      "(b, h, p, n)",
    );
  }
  checkHeadsAndDt(w, h, g, inputs);
}

/**
 * The Mamba-2 SSD over a sequence from tfjs ops only, chunked for float32
 * stability at any length; differentiable by tfjs autodiff.
 *
 * @param inputs x (b, l, h, p); dt (b, l, h); A, D, dtBias (h);
 *   B, C (b, l, g, n); initialState (b, h, p, n); dtSoftplus, dtLimit.
 * @param options chunkSize Q, segmentChunks.
 * @returns y (b, l, h, p) and the final state (b, h, p, n).
 * @throws Error naming the field when a shape or option is wrong.
 * @example
 * ```ts
 * import { tf } from "./backend.ts";
 * import { ssdChunked } from "./ssd_chunked.ts";
 * const [b, l, h, p, g, n] = [1, 8, 2, 4, 1, 4];
 * const { y, state } = ssdChunked({
 *   x: tf.ones([b, l, h, p]), dt: tf.fill([b, l, h], 0.1),
 *   A: tf.fill([h], -1), B: tf.ones([b, l, g, n]), C: tf.ones([b, l, g, n]),
 * }, { chunkSize: 4 }); // y: (1, 8, 2, 4), state: (1, 2, 4, 4)
 * ```
 *
 * Reference: Dao & Gu (2024) §6, Listing 1; transformers
 * `Mamba2Mixer.torch_forward`.
 */
export function ssdChunked(
  inputs: SsdInputs,
  options: SsdChunkedOptions = {},
): SsdResult {
  const Q = positiveInteger(
    "chunkSize",
    options.chunkSize ?? DEFAULT_SSD_CHUNK_SIZE,
  );
  checkInputs(inputs);
  const { x, dt, A, B, C, D, initialState } = inputs;
  const [b, l, h, p] = x.shape;
  const [g, n] = B.shape.slice(2);
  const k = h / g;
  const perSegment = options.segmentChunks !== undefined
    ? positiveInteger("segmentChunks", options.segmentChunks)
    : Math.max(1, Math.floor(SEGMENT_BUDGET / (b * h * Q * Q)));
  const segLen = perSegment * Q;
  return tf.tidy((): { y: tf.Tensor4D; state: tf.Tensor4D } => {
    if (l === 0) {
      const state = initialState
        ? tf.clone(initialState)
        : tf.zeros([b, h, p, n]);
      return { y: tf.zeros([b, 0, h, p]), state: state as tf.Tensor4D };
    }
    const dtp = processDt(dt, inputs); // (b, l, h) Δ'
    const xdt = tf.mul(x, tf.expandDims(dtp, 3)); // (b, l, h, p)
    const a = tf.minimum(tf.mul(dtp, A), 0); // (b, l, h) ≤ 0
    // heads grouped, time after heads: (b·g, k, l, ·)
    const xg = tf.reshape(
      tf.transpose(tf.reshape(xdt, [b, l, g, k, p]), [0, 2, 3, 1, 4]),
      [b * g, k, l, p],
    ) as tf.Tensor4D; // (bg, k, l, p)
    const ag = tf.reshape(
      tf.transpose(tf.reshape(a, [b, l, g, k]), [0, 2, 3, 1]),
      [b * g, k, l],
    ) as tf.Tensor3D; // (bg, k, l)
    const byGroup = (t: tf.Tensor4D) =>
      tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [b * g, l, n]) as tf.Tensor3D; // (bg, l, n)
    const bg3 = byGroup(B);
    const cg3 = byGroup(C);
    let state: tf.Tensor4D | null = initialState
      ? tf.reshape(initialState, [b * g, k, p, n])
      : null; // (bg, k, p, n)
    const ys: tf.Tensor4D[] = [];
    for (let start = 0; start < l; start += segLen) {
      const len = Math.min(segLen, l - start);
      const h0 = state;
      const out = tf.tidy(() =>
        ssdSegment(
          tf.slice(xg, [0, 0, start, 0], [b * g, k, len, p]),
          tf.slice(ag, [0, 0, start], [b * g, k, len]),
          tf.slice(bg3, [0, start, 0], [b * g, len, n]),
          tf.slice(cg3, [0, start, 0], [b * g, len, n]),
          h0,
          Q,
        )
      );
      ys.push(out.y);
      state = out.end;
    }
    const yg = ys.length === 1 ? ys[0] : tf.concat(ys, 2); // (bg, k, l, p)
    let y: tf.Tensor = tf.reshape(
      tf.transpose(tf.reshape(yg, [b, g, k, l, p]), [0, 3, 1, 2, 4]),
      [b, l, h, p],
    ); // (b, l, h, p)
    if (D) y = tf.add(y, tf.mul(x, tf.reshape(D, [h, 1])));
    return {
      y: y as tf.Tensor4D,
      state: tf.reshape(state!, [b, h, p, n]) as tf.Tensor4D,
    };
  });
}
