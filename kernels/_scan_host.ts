/**
 * The selective scan as one fused host loop for the cpu and wasm backends,
 * forward and backward, with float64 arithmetic inside and float32 tensors
 * outside.
 *
 * Why: the tfjs-op chunked scan (./scan_chunked.ts) makes hundreds of small
 * ops per layer and keeps every (l, b·dIn·n) intermediate for autodiff: on
 * wasm at (b, l, dIn, n) = (4, 256, 128, 16) it held ~85 MiB per sequence
 * and took most of a training step, and at batch 32 the tensors kept for the
 * backward pass outgrew the 4 GiB wasm32 heap ("memory access out of
 * bounds"). Here the forward keeps its inputs and, under a gradient tape,
 * the decays exp(Δ'A) as one float32 (b, l, dIn, n) array outside the tfjs
 * heap (exp is most of the cost); the backward recomputes the states of one
 * sequence at a time from them (as the official CUDA kernel recomputes), so
 * tfjs memory is O(b·l·dIn) plus O(l·dIn·n) scratch.
 *
 * The arithmetic is the oracle's (./scan_reference.ts) term for term, in
 * float64, with the loops reordered so that every array is walked
 * contiguously: per sequence, time outer, then channels, then states.
 *
 * Reference: `selective_scan_ref` and the backward pass of
 * `selective_scan_fn` in state-spaces/mamba; Gu & Dao, "Mamba" (2023),
 * §3.3.2 (recomputation instead of stored states).
 *
 * @module
 */
import { tf } from "./backend.ts";
import {
  SCAN_INPUT_NAMES,
  type ScanInputs,
  type ScanResult,
} from "./scan_types.ts";

/** Flat float32 views of the inputs, with sizes. */
interface Host {
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

/**
 * Δ' = softplus(raw) (or raw), raw = Δ + bias, for every (b, l, dIn); with
 * `deriv`, also dΔ'/draw = σ(raw). One exp and one log per element:
 * e^{−|raw|} gives both softplus(raw) = max(raw, 0) + log1p(e^{−|raw|}) and
 * σ(raw).
 */
function deltas(
  p: Host,
  deriv: boolean,
): { dt: Float64Array; dtdRaw: Float64Array | null } {
  const { b, l, dIn, delta, softplus } = p;
  const bias = p.deltaBias ?? new Float32Array(dIn);
  const dt = new Float64Array(b * l * dIn); // (b, l, dIn)
  const dtdRaw = softplus && deriv ? new Float64Array(b * l * dIn) : null;
  for (let o = 0; o < dt.length; o += dIn) {
    for (let d = 0; d < dIn; d++) {
      const raw = delta[o + d] + bias[d];
      if (!softplus) {
        dt[o + d] = raw;
        continue;
      }
      const ex = Math.exp(-Math.abs(raw));
      const w = 1 + ex;
      // log1p(ex) = log(w) · ex / (w − 1) (Goldberg; exact up to rounding,
      // ex itself when w rounds to 1): V8's Math.log costs about half of
      // its Math.log1p, and this loop is a tenth of a wasm training step.
      const lp = w === 1 ? ex : Math.log(w) * ex / (w - 1);
      dt[o + d] = (raw > 0 ? raw : 0) + lp;
      if (dtdRaw) dtdRaw[o + d] = raw >= 0 ? 1 / w : ex / w;
    }
  }
  return { dt, dtdRaw };
}

/**
 * Runs sequence `i` forward from its initial state: y before the gate into
 * `yc`, the last state into `state` (dIn, n); with `keep`, every decay
 * e = exp(Δ'A) into `keep` (b, l, dIn, n) for the backward.
 */
function forwardSequence(
  p: Host,
  dt: Float64Array,
  i: number,
  state: Float64Array,
  yc: Float64Array,
  keep: Float32Array | null,
): void {
  const { l, dIn, n, u, A, B, C, D } = p;
  const size = dIn * n;
  for (let k = 0; k < size; k++) state[k] = p.h0 ? p.h0[i * size + k] : 0;
  for (let t = 0; t < l; t++) {
    const row = (i * l + t) * dIn; // (i, t, ·)
    const bc = (i * l + t) * n; // (i, t, ·) of B, C
    for (let d = 0; d < dIn; d++) {
      const j = row + d;
      const dtj = dt[j];
      const ut = u[j];
      const dtu = dtj * ut;
      let acc = D ? D[d] * ut : 0;
      const s = d * n;
      if (keep) {
        const eAt = j * n;
        for (let k = 0; k < n; k++) {
          const e = Math.exp(dtj * A[s + k]);
          keep[eAt + k] = e;
          const h = e * state[s + k] + dtu * B[bc + k];
          state[s + k] = h;
          acc += C[bc + k] * h;
        }
      } else {
        for (let k = 0; k < n; k++) {
          const h = Math.exp(dtj * A[s + k]) * state[s + k] +
            dtu * B[bc + k];
          state[s + k] = h;
          acc += C[bc + k] * h;
        }
      }
      yc[j] = acc;
    }
  }
}

/**
 * Recomputes every state of sequence `i` from the kept decays `e`:
 * hs[t] = h_t (l, dIn, n), starting from `h0i`; with `yc`, also y before the
 * gate (the gate's gradient needs it).
 */
function recomputeSequence(
  p: Host,
  dt: Float64Array,
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
      const dtu = dt[j] * ut;
      const s = d * n;
      const eAt = j * n;
      let acc = D ? D[d] * ut : 0;
      for (let k = 0; k < n; k++) {
        const h = e[eAt + k] * prev[prevAt + s + k] + dtu * B[bc + k];
        hs[at + s + k] = h;
        acc += C[bc + k] * h;
      }
      if (yc) yc[j] = acc;
    }
  }
}

/**
 * y (b, l, dIn) after the gate and the final state (b, dIn, n); with
 * `keepDecays`, also every decay exp(Δ'A) (b, l, dIn, n) for the backward.
 */
function forward(
  p: Host,
  keepDecays = false,
): { y: Float32Array; state: Float32Array; e?: Float32Array } {
  const { b, l, dIn, n, z } = p;
  const { dt } = deltas(p, false);
  const yc = new Float64Array(b * l * dIn);
  const last = new Float32Array(b * dIn * n);
  const state = new Float64Array(dIn * n);
  const e = keepDecays ? new Float32Array(b * l * dIn * n) : null;
  for (let i = 0; i < b; i++) {
    forwardSequence(p, dt, i, state, yc, e);
    last.set(state, i * dIn * n);
  }
  const y = new Float32Array(yc.length);
  if (z) {
    for (let j = 0; j < y.length; j++) {
      y[j] = yc[j] * z[j] / (1 + Math.exp(-z[j])); // yc · z σ(z)
    }
  } else y.set(yc);
  return { y, state: last, e: e ?? undefined };
}

/**
 * Gradients of Σ dy·y with respect to every input given; the states are
 * recomputed one sequence at a time from the forward's decays `e`
 * (b, l, dIn, n).
 */
function backward(
  p: Host,
  dy: Float32Array,
  e: Float32Array,
): Map<string, Float64Array> {
  const { b, l, dIn, n } = p;
  const { dt, dtdRaw } = deltas(p, true);
  const du = new Float64Array(b * l * dIn);
  const ddelta = new Float64Array(b * l * dIn);
  const dA = new Float64Array(dIn * n);
  const dB = new Float64Array(b * l * n);
  const dC = new Float64Array(b * l * n);
  const dD = new Float64Array(dIn);
  const dz = new Float64Array(p.z ? b * l * dIn : 0);
  const dBias = new Float64Array(dIn);
  const dH0 = new Float64Array(p.h0 ? b * dIn * n : 0);
  const yc = p.z ? new Float64Array(b * l * dIn) : null;
  const hs = new Float64Array(l * dIn * n); // (l, dIn, n) one sequence
  const dh = new Float64Array(dIn * n); // cotangent of h_t, walking t down
  const { u, A, B, C, D, z, h0 } = p;
  const size = dIn * n;
  const h0i = new Float64Array(size); // h_{−1} of sequence i
  for (let i = 0; i < b; i++) {
    for (let k = 0; k < size; k++) h0i[k] = h0 ? h0[i * size + k] : 0;
    recomputeSequence(p, dt, i, e, h0i, hs, yc); // hs[t] = h_t
    dh.fill(0);
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
          dz[j] = dy[j] * yc![j] * sg * (1 + zj * (1 - sg));
        }
        const ut = u[j];
        const dtj = dt[j];
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
          dC[bc + k] += dyc * hs[at + s + k];
          const g = dh[s + k] + dyc * C[bc + k];
          dDt += g * (a * ek * hPrev + ut * bt);
          dA[s + k] += g * ek * dtj * hPrev;
          duj += g * dtj * bt;
          dB[bc + k] += g * dtj * ut;
          dh[s + k] = g * ek;
        }
        du[j] = duj;
        const dRaw = dtdRaw ? dDt * dtdRaw[j] : dDt;
        ddelta[j] = dRaw;
        dBias[d] += dRaw;
      }
    }
    if (h0) dH0.set(dh, i * size);
  }
  return new Map([
    ["u", du],
    ["delta", ddelta],
    ["A", dA],
    ["B", dB],
    ["C", dC],
    ["D", dD],
    ["z", dz],
    ["deltaBias", dBias],
    ["initialState", dH0],
  ]);
}

const NAMES = SCAN_INPUT_NAMES;

function toHost(
  named: Map<string, tf.Tensor>,
  softplus: boolean,
): Host {
  const read = (name: string) =>
    named.get(name)?.dataSync() as Float32Array | undefined;
  const [b, l, dIn] = named.get("u")!.shape as [number, number, number];
  return {
    b,
    l,
    dIn,
    n: named.get("A")!.shape[1] as number,
    u: read("u")!,
    delta: read("delta")!,
    A: read("A")!,
    B: read("B")!,
    C: read("C")!,
    D: read("D"),
    z: read("z"),
    deltaBias: read("deltaBias"),
    softplus,
    h0: read("initialState"),
  };
}

/**
 * The selective scan on the host (cpu and wasm backends), differentiable
 * through a hand-written backward that recomputes the states. Shapes are not
 * checked here ({@linkcode selectiveScan} checks them).
 *
 * @param inputs u, delta, z (b, l, dIn); A (dIn, n); B, C (b, l, n);
 *   D, deltaBias (dIn); initialState (b, dIn, n).
 * @param options returnState: also return the final state (b, dIn, n); the
 *   state output is not differentiable (prefill only).
 * @returns y (b, l, dIn) and, when asked, the final state (b, dIn, n).
 */
export function hostScan(
  inputs: ScanInputs,
  options: { returnState?: boolean } = {},
): ScanResult {
  const backend = tf.getBackend();
  if (backend !== "cpu" && backend !== "wasm") {
    throw new Error(
      `hostScan: expected the cpu or wasm backend (it reads tensors synchronously), received "${backend}"`,
    );
  }
  const given = NAMES.filter((name) => inputs[name] !== undefined);
  const tensors = given.map((name) => inputs[name] as tf.Tensor);
  const softplus = inputs.deltaSoftplus ?? false;
  const [b, l, dIn] = inputs.u.shape;
  if (options.returnState) {
    const out = forward(
      toHost(new Map(given.map((g, i) => [g, tensors[i]])), softplus),
    );
    return {
      y: tf.tensor3d(out.y, [b, l, dIn]),
      state: tf.tensor3d(out.state, [b, dIn, inputs.A.shape[1]]),
    };
  }
  // Under a gradient tape, the forward keeps its decays (b·l·dIn·n float32)
  // for the backward: exp is most of the cost, and this halves the count.
  const recording =
    (tf.engine() as unknown as { state: { gradientDepth: number } }).state
      .gradientDepth > 0;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, given.length) as tf.Tensor[];
    const save = args[given.length] as tf.GradSaveFunc;
    // The backward uses the host copies below, so tfjs need not keep (clone)
    // the inputs; it runs only when a tape recorded this op, i.e. when the
    // forward kept its decays.
    save([]);
    const host = toHost(new Map(given.map((g, i) => [g, xs[i]])), softplus);
    const out = forward(host, recording);
    const value = tf.tensor3d(out.y, [b, l, dIn]);
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const grads = backward(host, dy.dataSync() as Float32Array, out.e!);
        return given.map((name, i) =>
          tf.tensor(Float32Array.from(grads.get(name)!), xs[i].shape)
        );
      },
    };
  });
  return { y: op(...tensors) as tf.Tensor3D };
}
