/**
 * The Mamba-2 SSD oracle: the recurrence run step by step in float64, and its
 * gradient written out by hand (reverse mode through the recurrence). Plain
 * TypeScript on flat arrays, no tfjs, slow on purpose and easy to check line
 * by line. Every fast SSD implementation is tested against these two.
 *
 * Layout (row-major, letters as in `ssd_types.ts`): x, y: (b, l, h, p);
 * dt: (b, l, h); A, D, dtBias: (h); B, C: (b, l, g, n); initialState and the
 * final state: (b, h, p, n).
 *
 * Reference: Dao & Gu (2024), §3 (the SSM recurrence with scalar A per head);
 * transformers `Mamba2Mixer.torch_forward` (decode branch, one step).
 *
 * @module
 */
import type { DtLimit } from "./ssd_types.ts";

/** Inputs of {@linkcode referenceSsd}: flat row-major arrays plus dims. */
export interface RefSsdInputs {
  /** Batch size. */
  b: number;
  /** Sequence length. */
  l: number;
  /** Heads. */
  h: number;
  /** Head dim. */
  p: number;
  /** Groups (divides h). */
  g: number;
  /** State size. */
  n: number;
  /** (b, l, h, p) input. */
  x: ArrayLike<number>;
  /** (b, l, h) time step (raw when dtSoftplus is set). */
  dt: ArrayLike<number>;
  /** (h) negative. */
  A: ArrayLike<number>;
  /** (b, l, g, n) */
  B: ArrayLike<number>;
  /** (b, l, g, n) */
  C: ArrayLike<number>;
  /** (h) skip. */
  D?: ArrayLike<number>;
  /** (h) added to dt before the softplus. */
  dtBias?: ArrayLike<number>;
  /** Apply softplus(dt + dtBias). */
  dtSoftplus?: boolean;
  /** Clamp Δ' to [lo, hi]. */
  dtLimit?: DtLimit;
  /** (b, h, p, n) state before the first step (default zeros). */
  initialState?: ArrayLike<number>;
}

/** Output of {@linkcode referenceSsd}. */
export interface RefSsdResult {
  /** (b, l, h, p) */
  y: Float64Array;
  /** (b, h, p, n) */
  state: Float64Array;
}

/** The field of {@linkcode RefSsdGrads} holding each input's gradient. */
export const SSD_GRAD_OF = {
  x: "dx",
  dt: "ddt",
  A: "dA",
  B: "dB",
  C: "dC",
  D: "dD",
  dtBias: "ddtBias",
  initialState: "dInitialState",
} as const;

/** Gradients from {@linkcode referenceSsdGrad}, one per input given. */
export interface RefSsdGrads {
  /** (b, l, h, p) */
  dx: Float64Array;
  /** (b, l, h) */
  ddt: Float64Array;
  /** (h) */
  dA: Float64Array;
  /** (b, l, g, n) */
  dB: Float64Array;
  /** (b, l, g, n) */
  dC: Float64Array;
  /** (h), when D was given. */
  dD?: Float64Array;
  /** (h), when dtBias was given. */
  ddtBias?: Float64Array;
  /** (b, h, p, n), when initialState was given. */
  dInitialState?: Float64Array;
}

function softplus(v: number): number {
  return Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/**
 * Δ' at (batch i, step t, head k) and dΔ'/d(dt). The clamp passes the
 * gradient where lo ≤ value ≤ hi, as torch.clamp and tf.clipByValue do.
 */
function dtAt(
  q: RefSsdInputs,
  i: number,
  t: number,
  k: number,
): [number, number] {
  const raw = q.dt[(i * q.l + t) * q.h + k] + (q.dtBias?.[k] ?? 0);
  let [v, dv] = q.dtSoftplus ? [softplus(raw), sigmoid(raw)] : [raw, 1];
  if (q.dtLimit) {
    const [lo, hi] = q.dtLimit;
    if (v < lo || v > hi) dv = 0;
    v = Math.min(Math.max(v, lo), hi);
  }
  return [v, dv];
}

/** Every state s_t as (b, l, h, p, n). */
function states(q: RefSsdInputs): Float64Array {
  const { b, l, h, p, g, n } = q;
  const per = h / g;
  const s = new Float64Array(b * l * h * p * n);
  for (let i = 0; i < b; i++) {
    for (let k = 0; k < h; k++) {
      const grp = Math.floor(k / per);
      const prev = new Float64Array(p * n); // (p, n)
      for (let j = 0; j < p * n; j++) {
        prev[j] = q.initialState?.[(i * h + k) * p * n + j] ?? 0;
      }
      for (let t = 0; t < l; t++) {
        const [dt] = dtAt(q, i, t, k);
        const decay = Math.exp(dt * q.A[k]);
        const bcOff = ((i * l + t) * g + grp) * n;
        for (let e = 0; e < p; e++) {
          const xt = q.x[((i * l + t) * h + k) * p + e];
          for (let m = 0; m < n; m++) {
            const j = e * n + m;
            prev[j] = decay * prev[j] + dt * xt * q.B[bcOff + m];
            s[(((i * l + t) * h + k) * p + e) * n + m] = prev[j];
          }
        }
      }
    }
  }
  return s;
}

/**
 * Runs the SSD recurrence step by step in float64.
 *
 * @param inputs flat arrays and dims; see {@linkcode RefSsdInputs}.
 * @returns y (b, l, h, p) and the final state (b, h, p, n).
 * @example
 * ```ts
 * import { referenceSsd } from "./ssd_reference.ts";
 * const { y } = referenceSsd({
 *   b: 1, l: 2, h: 1, p: 1, g: 1, n: 1,
 *   x: [1, 1], dt: [1, 1], A: [-1], B: [1, 1], C: [1, 1],
 * });
 * // y = [1, 1 + e^-1]
 * ```
 *
 * Reference: Dao & Gu (2024) §3; transformers `Mamba2Mixer.torch_forward`.
 */
export function referenceSsd(inputs: RefSsdInputs): RefSsdResult {
  const q = inputs;
  const { b, l, h, p, g, n } = q;
  const per = h / g;
  const s = states(q);
  const y = new Float64Array(b * l * h * p);
  for (let i = 0; i < b; i++) {
    for (let t = 0; t < l; t++) {
      for (let k = 0; k < h; k++) {
        const bcOff = ((i * l + t) * g + Math.floor(k / per)) * n;
        for (let e = 0; e < p; e++) {
          const j = ((i * l + t) * h + k) * p + e;
          let acc = (q.D?.[k] ?? 0) * q.x[j];
          for (let m = 0; m < n; m++) acc += s[j * n + m] * q.C[bcOff + m];
          y[j] = acc;
        }
      }
    }
  }
  const state = new Float64Array(b * h * p * n);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < h * p * n; j++) {
      state[i * h * p * n + j] = l === 0
        ? (q.initialState?.[i * h * p * n + j] ?? 0)
        : s[(i * l + l - 1) * h * p * n + j];
    }
  }
  return { y, state };
}

/**
 * Reverse-mode gradient of {@linkcode referenceSsd} in float64: given the
 * cotangents dy of y and dState of the final state, the cotangent of every
 * input that was given.
 *
 * @param inputs the same inputs as {@linkcode referenceSsd}.
 * @param dy (b, l, h, p) cotangent of y.
 * @param dState (b, h, p, n) cotangent of the final state (default zeros).
 * @returns one gradient per input; optional inputs only when given.
 * @example
 * ```ts
 * import { referenceSsdGrad } from "./ssd_reference.ts";
 * const gr = referenceSsdGrad({
 *   b: 1, l: 1, h: 1, p: 1, g: 1, n: 1,
 *   x: [2], dt: [1], A: [-1], B: [1], C: [1],
 * }, [1]);
 * // gr.dx = [1] since y = Δ' x B C
 * ```
 *
 * Reference: the recurrence of Dao & Gu (2024) §3, differentiated backwards
 * in time.
 */
export function referenceSsdGrad(
  inputs: RefSsdInputs,
  dy: ArrayLike<number>,
  dState?: ArrayLike<number>,
): RefSsdGrads {
  const q = inputs;
  const { b, l, h, p, g, n } = q;
  const per = h / g;
  const s = states(q);
  const gr: RefSsdGrads = {
    dx: new Float64Array(b * l * h * p),
    ddt: new Float64Array(b * l * h),
    dA: new Float64Array(h),
    dB: new Float64Array(b * l * g * n),
    dC: new Float64Array(b * l * g * n),
  };
  if (q.D) gr.dD = new Float64Array(h);
  if (q.dtBias) gr.ddtBias = new Float64Array(h);
  if (q.initialState) gr.dInitialState = new Float64Array(b * h * p * n);

  for (let i = 0; i < b; i++) {
    for (let k = 0; k < h; k++) {
      const grp = Math.floor(k / per);
      const ds = new Float64Array(p * n); // cotangent of s_t, walking t down
      for (let j = 0; j < p * n; j++) {
        ds[j] = dState?.[(i * h + k) * p * n + j] ?? 0;
      }
      for (let t = l - 1; t >= 0; t--) {
        const [dt, dtdRaw] = dtAt(q, i, t, k);
        const a = q.A[k];
        const decay = Math.exp(dt * a);
        const bcOff = ((i * l + t) * g + grp) * n;
        let dDt = 0;
        for (let e = 0; e < p; e++) {
          const j = ((i * l + t) * h + k) * p + e;
          const xt = q.x[j];
          // y_t = s_t C_t + D x_t
          if (q.D) {
            gr.dD![k] += dy[j] * xt;
            gr.dx[j] += dy[j] * q.D[k];
          }
          for (let m = 0; m < n; m++) {
            const sj = e * n + m;
            const st = s[j * n + m];
            const sPrev = t > 0
              ? s[(((i * l + t - 1) * h + k) * p + e) * n + m]
              : (q.initialState?.[(i * h + k) * p * n + sj] ?? 0);
            const bt = q.B[bcOff + m];
            gr.dC[bcOff + m] += dy[j] * st;
            ds[sj] += dy[j] * q.C[bcOff + m];
            // s_t = decay s_{t−1} + Δ' x_t B_t
            dDt += ds[sj] * (a * decay * sPrev + xt * bt);
            gr.dA[k] += ds[sj] * decay * dt * sPrev;
            gr.dx[j] += ds[sj] * dt * bt;
            gr.dB[bcOff + m] += ds[sj] * dt * xt;
            ds[sj] *= decay;
          }
        }
        const dRaw = dDt * dtdRaw;
        gr.ddt[(i * l + t) * h + k] = dRaw;
        if (gr.ddtBias) gr.ddtBias[k] += dRaw;
      }
      if (gr.dInitialState) {
        for (let j = 0; j < p * n; j++) {
          gr.dInitialState[(i * h + k) * p * n + j] = ds[j];
        }
      }
    }
  }
  return gr;
}
