/**
 * The oracle: a sequential selective scan in float64, and its gradient written
 * out by hand (reverse mode through the recurrence). Plain TypeScript on flat
 * arrays, no tfjs, slow on purpose and easy to check line by line. Every fast
 * implementation is tested against these two functions.
 *
 * Layout (row-major, dimension letters as in `scan_types.ts`):
 * u, delta, z: (b, l, dIn); A: (dIn, n); B, C: (b, l, n); D, deltaBias: (dIn);
 * initialState and the final state: (b, dIn, n); y: (b, l, dIn).
 *
 * Reference: `selective_scan_ref` in state-spaces/mamba
 * `mamba_ssm/ops/selective_scan_interface.py`.
 *
 * @module
 */

/** Inputs of {@linkcode referenceScan}: flat row-major arrays plus their dims. */
export interface RefScanInputs {
  /** Batch size. */
  b: number;
  /** Sequence length. */
  l: number;
  /** Inner width (channels). */
  dIn: number;
  /** State size. */
  n: number;
  /** (b, l, dIn) input sequence. */
  u: ArrayLike<number>;
  /** (b, l, dIn) time step before bias and softplus. */
  delta: ArrayLike<number>;
  /** (dIn, n) state matrix (negative). */
  A: ArrayLike<number>;
  /** (b, l, n) input projection. */
  B: ArrayLike<number>;
  /** (b, l, n) output projection. */
  C: ArrayLike<number>;
  /** (dIn) skip connection. */
  D?: ArrayLike<number>;
  /** (b, l, dIn) gate. */
  z?: ArrayLike<number>;
  /** (dIn) added to Δ before the softplus. */
  deltaBias?: ArrayLike<number>;
  /** Apply softplus to Δ + deltaBias (default false). */
  deltaSoftplus?: boolean;
  /** (b, dIn, n) state before the first step (default zeros). */
  initialState?: ArrayLike<number>;
}

/** Output of {@linkcode referenceScan}. */
export interface RefScanResult {
  /** (b, l, dIn) output. */
  y: Float64Array;
  /** (b, dIn, n) state after the last step. */
  state: Float64Array;
}

/** The field of {@linkcode RefScanGrads} holding each input's gradient. */
export const GRAD_OF = {
  u: "du",
  delta: "ddelta",
  A: "dA",
  B: "dB",
  C: "dC",
  D: "dD",
  z: "dz",
  deltaBias: "ddeltaBias",
  initialState: "dInitialState",
} as const;

/** Gradients from {@linkcode referenceScanGrad}, one per input given. */
export interface RefScanGrads {
  /** (b, l, dIn) */
  du: Float64Array;
  /** (b, l, dIn) */
  ddelta: Float64Array;
  /** (dIn, n) */
  dA: Float64Array;
  /** (b, l, n) */
  dB: Float64Array;
  /** (b, l, n) */
  dC: Float64Array;
  /** (dIn), when D was given. */
  dD?: Float64Array;
  /** (b, l, dIn), when z was given. */
  dz?: Float64Array;
  /** (dIn), when deltaBias was given. */
  ddeltaBias?: Float64Array;
  /** (b, dIn, n), when initialState was given. */
  dInitialState?: Float64Array;
}

function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Δ' at (batch i, step t, channel d), and dΔ'/dδ. */
function deltaAt(
  p: RefScanInputs,
  i: number,
  t: number,
  d: number,
): [number, number] {
  const raw = p.delta[(i * p.l + t) * p.dIn + d] + (p.deltaBias?.[d] ?? 0);
  return p.deltaSoftplus ? [softplus(raw), sigmoid(raw)] : [raw, 1];
}

/** Every state h_t, t = 0..l-1, as (b, l, dIn, n), and y before the gate. */
function forward(p: RefScanInputs): { h: Float64Array; yc: Float64Array } {
  const { b, l, dIn, n } = p;
  const h = new Float64Array(b * l * dIn * n); // (b, l, dIn, n)
  const yc = new Float64Array(b * l * dIn); // (b, l, dIn)
  for (let i = 0; i < b; i++) {
    for (let d = 0; d < dIn; d++) {
      const prev = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        prev[k] = p.initialState?.[(i * dIn + d) * n + k] ?? 0;
      }
      for (let t = 0; t < l; t++) {
        const [dt] = deltaAt(p, i, t, d);
        const ut = p.u[(i * l + t) * dIn + d];
        let acc = (p.D?.[d] ?? 0) * ut;
        for (let k = 0; k < n; k++) {
          const bt = p.B[(i * l + t) * n + k];
          const ct = p.C[(i * l + t) * n + k];
          prev[k] = Math.exp(dt * p.A[d * n + k]) * prev[k] + dt * ut * bt;
          h[((i * l + t) * dIn + d) * n + k] = prev[k];
          acc += ct * prev[k];
        }
        yc[(i * l + t) * dIn + d] = acc;
      }
    }
  }
  return { h, yc };
}

/**
 * Runs the selective scan step by step in float64.
 *
 * @param inputs flat arrays and dims; see {@linkcode RefScanInputs}.
 * @returns y (b, l, dIn) and the final state (b, dIn, n).
 * @example
 * ```ts
 * import { referenceScan } from "./scan_reference.ts";
 * const { y } = referenceScan({
 *   b: 1, l: 2, dIn: 1, n: 1,
 *   u: [1, 1], delta: [1, 1], A: [-1], B: [1, 1], C: [1, 1],
 * });
 * // y = [1, 1 + e^-1]
 * ```
 *
 * Reference: `selective_scan_ref` in state-spaces/mamba.
 */
export function referenceScan(inputs: RefScanInputs): RefScanResult {
  const { b, l, dIn, n } = inputs;
  const { h, yc } = forward(inputs);
  const y = new Float64Array(yc);
  if (inputs.z) {
    for (let j = 0; j < y.length; j++) {
      const zj = inputs.z[j];
      y[j] *= zj * sigmoid(zj);
    }
  }
  const state = new Float64Array(b * dIn * n); // (b, dIn, n)
  for (let i = 0; i < b; i++) {
    for (let d = 0; d < dIn; d++) {
      for (let k = 0; k < n; k++) {
        state[(i * dIn + d) * n + k] = l === 0
          ? (inputs.initialState?.[(i * dIn + d) * n + k] ?? 0)
          : h[((i * l + l - 1) * dIn + d) * n + k];
      }
    }
  }
  return { y, state };
}

/**
 * Reverse-mode gradient of {@linkcode referenceScan} in float64: given the
 * cotangents dy of y and dState of the final state, returns the cotangent of
 * every input that was given.
 *
 * @param inputs the same inputs as {@linkcode referenceScan}.
 * @param dy (b, l, dIn) cotangent of y.
 * @param dState (b, dIn, n) cotangent of the final state (default zeros).
 * @returns one gradient per input; optional inputs only when given.
 * @example
 * ```ts
 * import { referenceScanGrad } from "./scan_reference.ts";
 * const g = referenceScanGrad({
 *   b: 1, l: 1, dIn: 1, n: 1,
 *   u: [2], delta: [1], A: [-1], B: [1], C: [1],
 * }, [1]);
 * // g.du = [1] since y = Δ u B C
 * ```
 *
 * Reference: the backward pass of `selective_scan_fn` in state-spaces/mamba.
 */
export function referenceScanGrad(
  inputs: RefScanInputs,
  dy: ArrayLike<number>,
  dState?: ArrayLike<number>,
): RefScanGrads {
  const p = inputs;
  const { b, l, dIn, n } = p;
  const { h, yc } = forward(p);
  const g: RefScanGrads = {
    du: new Float64Array(b * l * dIn),
    ddelta: new Float64Array(b * l * dIn),
    dA: new Float64Array(dIn * n),
    dB: new Float64Array(b * l * n),
    dC: new Float64Array(b * l * n),
  };
  if (p.D) g.dD = new Float64Array(dIn);
  if (p.z) g.dz = new Float64Array(b * l * dIn);
  if (p.deltaBias) g.ddeltaBias = new Float64Array(dIn);
  if (p.initialState) g.dInitialState = new Float64Array(b * dIn * n);

  // Gate: y = yc · z σ(z); d(z σ(z))/dz = σ(z)(1 + z(1 − σ(z))).
  const dyc = new Float64Array(b * l * dIn); // (b, l, dIn)
  for (let j = 0; j < dyc.length; j++) {
    if (p.z) {
      const zj = p.z[j];
      const s = sigmoid(zj);
      dyc[j] = dy[j] * zj * s;
      g.dz![j] = dy[j] * yc[j] * s * (1 + zj * (1 - s));
    } else {
      dyc[j] = dy[j];
    }
  }

  for (let i = 0; i < b; i++) {
    for (let d = 0; d < dIn; d++) {
      const dh = new Float64Array(n); // cotangent of h_t, walking t down
      for (let k = 0; k < n; k++) dh[k] = dState?.[(i * dIn + d) * n + k] ?? 0;
      for (let t = l - 1; t >= 0; t--) {
        const j = (i * l + t) * dIn + d;
        const [dt, dtdRaw] = deltaAt(p, i, t, d);
        const ut = p.u[j];
        if (p.D) {
          g.dD![d] += dyc[j] * ut;
          g.du[j] += dyc[j] * p.D[d];
        }
        let dDt = 0;
        for (let k = 0; k < n; k++) {
          const bt = p.B[(i * l + t) * n + k];
          const ct = p.C[(i * l + t) * n + k];
          const ht = h[j * n + k];
          const hPrev = t > 0
            ? h[((i * l + t - 1) * dIn + d) * n + k]
            : (p.initialState?.[(i * dIn + d) * n + k] ?? 0);
          const a = p.A[d * n + k];
          const e = Math.exp(dt * a);
          // y_t += C_t h_t
          g.dC[(i * l + t) * n + k] += dyc[j] * ht;
          dh[k] += dyc[j] * ct;
          // h_t = e h_{t-1} + Δ' u B
          dDt += dh[k] * (a * e * hPrev + ut * bt);
          g.dA[d * n + k] += dh[k] * e * dt * hPrev;
          g.du[j] += dh[k] * dt * bt;
          g.dB[(i * l + t) * n + k] += dh[k] * dt * ut;
          dh[k] *= e;
        }
        const dRaw = dDt * dtdRaw;
        g.ddelta[j] = dRaw;
        if (g.ddeltaBias) g.ddeltaBias[d] += dRaw;
      }
      if (g.dInitialState) {
        for (let k = 0; k < n; k++) {
          g.dInitialState[(i * dIn + d) * n + k] = dh[k];
        }
      }
    }
  }
  return g;
}
