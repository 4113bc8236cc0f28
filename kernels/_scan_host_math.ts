/**
 * The arithmetic of the host selective scan (`_scan_host.ts`), over a range
 * of sequences, on plain typed arrays: no tfjs here, so that the scan's
 * worker threads (`_scan_worker.ts`) import exactly this code.
 *
 * The arithmetic is the oracle's (./scan_reference.ts) term for term, in
 * float64, with the loops reordered so that every array is walked
 * contiguously: per sequence, time outer, then channels, then states. Only
 * `exp` differs: {@linkcode fastExp}, within 1e-14 of `Math.exp`.
 *
 * Glossary: `b` batch, `l` length, `dIn` channels, `n` state size.
 *
 * Reference: `selective_scan_ref` and the backward pass of
 * `selective_scan_fn` in state-spaces/mamba.
 *
 * @module
 */
import { fastExp } from "./_fast_exp.ts";

/** Flat float32 views of the scan's inputs, with sizes. */
export interface Host {
  b: number;
  l: number;
  dIn: number;
  n: number;
  u: Float32Array;
  delta: Float32Array;
  A: Float32Array;
  B: Float32Array;
  C: Float32Array;
  D?: Float32Array;
  z?: Float32Array;
  deltaBias?: Float32Array;
  softplus: boolean;
  h0?: Float32Array;
}

/** Where a forward over sequences writes (each range its own rows). */
export interface ForwardOut {
  /** y after the gate (b, l, dIn). */
  y: Float32Array;
  /** The last state of each sequence (b, dIn, n). */
  last: Float32Array;
  /** Every decay exp(Δ'A) (b, l, dIn, n), kept for the backward; or null. */
  e: Float32Array | null;
}

/** Where a backward over sequences writes its gradients. */
export interface BackwardOut {
  /** (b, l, dIn) each. */
  du: Float32Array;
  ddelta: Float32Array;
  /** (b, l, dIn), or empty without z. */
  dz: Float32Array;
  /** (b, l, n) each. */
  dB: Float32Array;
  dC: Float32Array;
  /** (b, dIn, n), or empty without an initial state. */
  dH0: Float32Array;
  /** Partial sums over this range's sequences: dA (dIn·n), then dD (dIn), then dBias (dIn). */
  sums: Float64Array;
}

/** Length of {@linkcode BackwardOut.sums} for a scan of these sizes. */
export function sumsLength(dIn: number, n: number): number {
  return dIn * n + 2 * dIn;
}

/**
 * Δ' = softplus(raw) (or raw), raw = Δ + bias, for the rows of sequences
 * [i0, i1) (index j − i0·l·dIn); with `deriv`, also dΔ'/draw = σ(raw). One
 * exp and one log per element: e^{−|raw|} gives both softplus(raw) =
 * max(raw, 0) + log1p(e^{−|raw|}) and σ(raw).
 */
function deltas(
  p: Host,
  i0: number,
  i1: number,
  deriv: boolean,
): { dt: Float64Array; dtdRaw: Float64Array | null } {
  const { l, dIn, delta, softplus } = p;
  const bias = p.deltaBias ?? new Float32Array(dIn);
  const off = i0 * l * dIn;
  const dt = new Float64Array((i1 - i0) * l * dIn); // (i1 − i0, l, dIn)
  const dtdRaw = softplus && deriv ? new Float64Array(dt.length) : null;
  for (let o = 0; o < dt.length; o += dIn) {
    for (let d = 0; d < dIn; d++) {
      const raw = delta[off + o + d] + bias[d];
      if (!softplus) {
        dt[o + d] = raw;
        continue;
      }
      const ex = Math.exp(-Math.abs(raw));
      const w = 1 + ex;
      // log1p(ex) = log(w) · ex / (w − 1) (Goldberg; exact up to rounding,
      // ex itself when w rounds to 1): V8's Math.log costs about half of
      // its Math.log1p.
      const lp = w === 1 ? ex : Math.log(w) * ex / (w - 1);
      dt[o + d] = (raw > 0 ? raw : 0) + lp;
      if (dtdRaw) dtdRaw[o + d] = raw >= 0 ? 1 / w : ex / w;
    }
  }
  return { dt, dtdRaw };
}

/**
 * Runs sequences [i0, i1) forward from their initial states: y after the
 * gate, the last states and, with `out.e`, every decay.
 */
export function forwardRange(
  p: Host,
  i0: number,
  i1: number,
  out: ForwardOut,
): void {
  const { l, dIn, n, u, A, B, C, D, z } = p;
  const size = dIn * n;
  const { dt } = deltas(p, i0, i1, false);
  const off = i0 * l * dIn;
  const state = new Float64Array(size);
  const keep = out.e;
  for (let i = i0; i < i1; i++) {
    for (let k = 0; k < size; k++) state[k] = p.h0 ? p.h0[i * size + k] : 0;
    for (let t = 0; t < l; t++) {
      const row = (i * l + t) * dIn; // (i, t, ·)
      const bc = (i * l + t) * n; // (i, t, ·) of B, C
      for (let d = 0; d < dIn; d++) {
        const j = row + d;
        const dtj = dt[j - off];
        const ut = u[j];
        const dtu = dtj * ut;
        let acc = D ? D[d] * ut : 0;
        const s = d * n;
        if (keep) {
          const eAt = j * n;
          for (let k = 0; k < n; k++) {
            const e = fastExp(dtj * A[s + k]);
            keep[eAt + k] = e;
            const h = e * state[s + k] + dtu * B[bc + k];
            state[s + k] = h;
            acc += C[bc + k] * h;
          }
        } else {
          for (let k = 0; k < n; k++) {
            const h = fastExp(dtj * A[s + k]) * state[s + k] +
              dtu * B[bc + k];
            state[s + k] = h;
            acc += C[bc + k] * h;
          }
        }
        // gate: y = yc · z σ(z)
        out.y[j] = z ? acc * z[j] / (1 + Math.exp(-z[j])) : acc;
      }
    }
    out.last.set(state, i * size);
  }
}

/**
 * Recomputes every state of sequence `i` from the kept decays `e`:
 * hs[t] = h_t (l, dIn, n), starting from `h0i`; with `yc`, also y before the
 * gate (l, dIn) (the gate's gradient needs it).
 */
function recomputeSequence(
  p: Host,
  dt: Float64Array,
  off: number,
  i: number,
  e: Float32Array,
  h0i: Float64Array,
  hs: Float64Array,
  yc: Float64Array | null,
): void {
  const { l, dIn, n, u, B, C, D } = p;
  const size = dIn * n;
  for (let t = 0; t < l; t++) {
    const row = (i * l + t) * dIn;
    const bc = (i * l + t) * n;
    const prev = t > 0 ? hs : h0i;
    const prevAt = t > 0 ? (t - 1) * size : 0;
    const at = t * size;
    for (let d = 0; d < dIn; d++) {
      const j = row + d;
      const ut = u[j];
      const dtu = dt[j - off] * ut;
      const s = d * n;
      const eAt = j * n;
      let acc = D ? D[d] * ut : 0;
      for (let k = 0; k < n; k++) {
        const h = e[eAt + k] * prev[prevAt + s + k] + dtu * B[bc + k];
        hs[at + s + k] = h;
        acc += C[bc + k] * h;
      }
      if (yc) yc[t * dIn + d] = acc;
    }
  }
}

/**
 * Gradients of Σ dy·y for sequences [i0, i1); the states are recomputed one
 * sequence at a time from the forward's decays `e` (b, l, dIn, n). Per-row
 * gradients go to their rows of `out`; dA, dD and dBias are summed over the
 * range into `out.sums`.
 */
export function backwardRange(
  p: Host,
  dy: Float32Array,
  e: Float32Array,
  i0: number,
  i1: number,
  out: BackwardOut,
): void {
  const { l, dIn, n, u, A, B, C, D, z, h0 } = p;
  const { dt, dtdRaw } = deltas(p, i0, i1, true);
  const off = i0 * l * dIn;
  const size = dIn * n;
  const dA = out.sums.subarray(0, size);
  const dD = out.sums.subarray(size, size + dIn);
  const dBias = out.sums.subarray(size + dIn, size + 2 * dIn);
  const yc = z ? new Float64Array(l * dIn) : null; // (l, dIn) one sequence
  const hs = new Float64Array(l * size); // (l, dIn, n) one sequence
  const dh = new Float64Array(size); // cotangent of h_t, walking t down
  const dBs = new Float64Array(l * n); // (l, n) one sequence
  const dCs = new Float64Array(l * n);
  const h0i = new Float64Array(size); // h_{−1} of sequence i
  for (let i = i0; i < i1; i++) {
    for (let k = 0; k < size; k++) h0i[k] = h0 ? h0[i * size + k] : 0;
    recomputeSequence(p, dt, off, i, e, h0i, hs, yc); // hs[t] = h_t
    dh.fill(0);
    dBs.fill(0);
    dCs.fill(0);
    for (let t = l - 1; t >= 0; t--) {
      const row = (i * l + t) * dIn;
      const bc = (i * l + t) * n;
      const prev = t > 0 ? hs : h0i; // h_{t−1} at prevAt + d·n + k
      const prevAt = t > 0 ? (t - 1) * size : 0;
      const at = t * size;
      for (let d = 0; d < dIn; d++) {
        const j = row + d;
        const eAt = j * n;
        // gate: y = yc · z σ(z); d(z σ(z))/dz = σ(z)(1 + z(1 − σ(z)))
        let dyc = dy[j];
        if (z) {
          const zj = z[j];
          const sg = 1 / (1 + Math.exp(-zj));
          dyc = dy[j] * zj * sg;
          out.dz[j] = dy[j] * yc![t * dIn + d] * sg * (1 + zj * (1 - sg));
        }
        const ut = u[j];
        const dtj = dt[j - off];
        let duj = 0;
        if (D) {
          dD[d] += dyc * ut;
          duj = dyc * D[d];
        }
        let dDt = 0;
        const s = d * n;
        for (let k = 0; k < n; k++) {
          const bt = B[bc + k];
          const hPrev = prev[prevAt + s + k];
          const ek = e[eAt + k];
          const a = A[s + k];
          dCs[t * n + k] += dyc * hs[at + s + k];
          const g = dh[s + k] + dyc * C[bc + k];
          dDt += g * (a * ek * hPrev + ut * bt);
          dA[s + k] += g * ek * dtj * hPrev;
          duj += g * dtj * bt;
          dBs[t * n + k] += g * dtj * ut;
          dh[s + k] = g * ek;
        }
        out.du[j] = duj;
        const dRaw = dtdRaw ? dDt * dtdRaw[j - off] : dDt;
        out.ddelta[j] = dRaw;
        dBias[d] += dRaw;
      }
    }
    out.dB.set(dBs, i * l * n);
    out.dC.set(dCs, i * l * n);
    if (h0) out.dH0.set(dh, i * size);
  }
}
