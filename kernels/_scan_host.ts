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
 * The arithmetic (`_scan_host_math.ts`) is the oracle's
 * (./scan_reference.ts) term for term, in float64; the sequences of a batch
 * are split over worker threads (`_scan_pool.ts`), so training uses every
 * core.
 *
 * Reference: `selective_scan_ref` and the backward pass of
 * `selective_scan_fn` in state-spaces/mamba; Gu & Dao, "Mamba" (2023),
 * §3.3.2 (recomputation instead of stored states).
 *
 * @module
 */
import { tf } from "./backend.ts";
import {
  type BackwardOut,
  type ForwardOut,
  type Host,
  sumsLength,
} from "./_scan_host_math.ts";
import {
  runScanJob,
  scanThreads,
  shared,
  sharedFloat32,
} from "./_scan_pool.ts";
import {
  SCAN_INPUT_NAMES,
  type ScanInputs,
  type ScanResult,
} from "./scan_types.ts";

/**
 * y (b, l, dIn) after the gate and the final state (b, dIn, n); with
 * `keepDecays`, also every decay exp(Δ'A) (b, l, dIn, n) for the backward.
 * Sequences are split over the pool's threads where it pays.
 */
function forward(p: Host, keepDecays = false): ForwardOut {
  const { b, l, dIn, n } = p;
  const threads = scanThreads(b, b * l * dIn * n);
  const alloc = threads > 1
    ? sharedFloat32
    : (k: number) => new Float32Array(k);
  const out: ForwardOut = {
    y: alloc(b * l * dIn),
    last: alloc(b * dIn * n),
    e: keepDecays ? alloc(b * l * dIn * n) : null,
  };
  runScanJob({ kind: "forward", host: p, out }, b, threads);
  return out;
}

/**
 * Gradients of Σ dy·y with respect to every input given; the states are
 * recomputed one sequence at a time from the forward's decays `e`
 * (b, l, dIn, n), the sequences split over the pool's threads.
 */
function backward(
  p: Host,
  dy: Float32Array,
  e: Float32Array,
): Map<string, Float32Array> {
  const { b, l, dIn, n } = p;
  const threads = e.buffer instanceof SharedArrayBuffer
    ? scanThreads(b, b * l * dIn * n)
    : 1;
  const alloc = threads > 1
    ? sharedFloat32
    : (k: number) => new Float32Array(k);
  const rows = {
    du: alloc(b * l * dIn),
    ddelta: alloc(b * l * dIn),
    dz: alloc(p.z ? b * l * dIn : 0),
    dB: alloc(b * l * n),
    dC: alloc(b * l * n),
    dH0: alloc(p.h0 ? b * dIn * n : 0),
  };
  const outs: BackwardOut[] = Array.from({ length: threads }, () => ({
    ...rows,
    sums: threads > 1
      ? new Float64Array(new SharedArrayBuffer(8 * sumsLength(dIn, n)))
      : new Float64Array(sumsLength(dIn, n)),
  }));
  const dyShared = threads > 1 ? shared(dy) : dy;
  runScanJob({ kind: "backward", host: p, dy: dyShared, e, outs }, b, threads);
  const sums = outs[0].sums;
  for (const o of outs.slice(1)) {
    for (let k = 0; k < sums.length; k++) sums[k] += o.sums[k];
  }
  const size = dIn * n;
  return new Map([
    ["u", rows.du],
    ["delta", rows.ddelta],
    ["A", Float32Array.from(sums.subarray(0, size))],
    ["B", rows.dB],
    ["C", rows.dC],
    ["D", Float32Array.from(sums.subarray(size, size + dIn))],
    ["z", rows.dz],
    ["deltaBias", Float32Array.from(sums.subarray(size + dIn))],
    ["initialState", rows.dH0],
  ]);
}

const NAMES = SCAN_INPUT_NAMES;

function toHost(
  named: Map<string, tf.Tensor>,
  softplus: boolean,
): Host {
  const [b, l, dIn] = named.get("u")!.shape as [number, number, number];
  const n = named.get("A")!.shape[1] as number;
  const threads = scanThreads(b, b * l * dIn * n);
  const read = (name: string) => {
    const data = named.get(name)?.dataSync() as Float32Array | undefined;
    return data && threads > 1 ? shared(data) : data;
  };
  return {
    b,
    l,
    dIn,
    n,
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
      state: tf.tensor3d(out.last, [b, dIn, inputs.A.shape[1]]),
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
        return given.map((name, i) => tf.tensor(grads.get(name)!, xs[i].shape));
      },
    };
  });
  return { y: op(...tensors) as tf.Tensor3D };
}
