/**
 * tfjs kernels (backend "webgpu") of the selective scan: forward, backward
 * and one recurrent step, each a few raw dispatches of the WGSL in this
 * folder. Inputs are passed as arrays: [u, delta, P, B, C, (z), (init)] where
 * P (dIn, N+2) packs [A | D | Δ bias] so the shaders stay within 16 storage
 * bindings (the software adapter's limit).
 *
 * Reference: state-spaces/mamba `csrc/selective_scan/` (the fused CUDA
 * kernels these mirror).
 *
 * @module
 */
import { tf } from "../backend.ts";
import {
  allocate,
  dispatch,
  pipeline,
  release,
  webgpuBackend,
} from "./_dispatch.ts";
import {
  carryShader,
  type ForwardConfig,
  forwardKey,
  forwardShader,
  forwardWorkgroupBytes,
} from "./_wgsl_forward.ts";
import {
  type BackwardConfig,
  backwardKey,
  backwardLocalShader,
  backwardShader,
  backwardWorkgroupBytes,
} from "./_wgsl_backward.ts";
import { type StepConfig, stepKey, stepShader } from "./_wgsl_step.ts";

/** Name of the forward kernel: outputs [y, final state, checkpoints]. */
export const SCAN_FWD = "MambaSelectiveScan";
/** Name of the backward kernel: outputs [gu, gΔ, gz, gBC, gAux]. */
export const SCAN_BWD = "MambaSelectiveScanGrad";
/** Name of the recurrent-step kernel: outputs [y, new state]. */
export const SCAN_STEP = "MambaSelectiveScanStep";

/** Flags shared by the three kernels (tfjs attrs). */
export interface ScanFlags {
  hasD: boolean;
  hasZ: boolean;
  hasBias: boolean;
  softplus: boolean;
  hasInit: boolean;
}

/** Tunable launch parameters (defaults chosen on the H200; see bench). */
export interface ScanTuning {
  /** States per thread in the forward pass (a divisor of N is used). */
  statesPerThread: number;
  /** Forward threads per workgroup (channels × state groups). */
  forwardWorkgroup: number;
  /** Forward tile length T (steps staged at once). */
  tile: number;
  /** Split length into segments until this many workgroups exist. */
  minWorkgroups: number;
  /** Checkpoint interval K of the backward recomputation. */
  checkpoint: number;
  /** Backward: split length until this many threads exist. */
  minBackwardThreads: number;
  /** Force a forward segment length (tests), 0 for automatic. */
  segLen: number;
  /** Force a backward segment length (tests), 0 for automatic. */
  backwardSegLen: number;
}

const tuning: ScanTuning = {
  statesPerThread: 4,
  forwardWorkgroup: 256,
  tile: 16,
  minWorkgroups: 256,
  checkpoint: 16,
  minBackwardThreads: 65536,
  segLen: 0,
  backwardSegLen: 0,
};

/**
 * Overrides launch parameters (benchmarks and tests).
 *
 * @param t the parameters to change.
 * @returns the parameters now in force.
 */
export function setScanTuning(t: Partial<ScanTuning>): ScanTuning {
  Object.assign(tuning, t);
  return { ...tuning };
}

const ceil = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, m: number) => ceil(a, m) * m;

/** Forward launch plan for one shape. */
interface ForwardPlan {
  cfg: ForwardConfig;
  nseg: number;
  segLen: number;
  nblk: number;
  nck: number;
}

function planForward(
  device: GPUDevice,
  b: number,
  l: number,
  dIn: number,
  N: number,
  flags: ScanFlags,
  K: number,
): ForwardPlan {
  let KS = Math.min(N, Math.max(1, tuning.statesPerThread));
  while (N % KS !== 0) KS--;
  const NG = N / KS;
  const DC = Math.max(1, Math.floor(tuning.forwardWorkgroup / NG));
  let T = Math.min(tuning.tile, roundUp(l, 1));
  if (K > 0) T = Math.min(T, K);
  while (K > 0 && K % T !== 0) T--;
  const cfg: ForwardConfig = {
    mode: "full",
    N,
    KS,
    DC,
    T,
    K,
    ...flags,
    hasHin: false,
  };
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  while (forwardWorkgroupBytes(cfg) > limit && cfg.T > 1) {
    cfg.T = Math.floor(cfg.T / 2);
    while (K > 0 && K % cfg.T !== 0) cfg.T--;
  }
  if (forwardWorkgroupBytes(cfg) > limit) {
    throw new Error(
      `webgpu scan: N=${N} needs ${
        forwardWorkgroupBytes(cfg)
      } bytes of workgroup memory, limit ${limit}`,
    );
  }
  const nblk = ceil(dIn, DC);
  const align = K > 0 ? K : cfg.T;
  let segLen = tuning.segLen > 0 ? roundUp(tuning.segLen, align) : roundUp(
    ceil(l, Math.max(1, ceil(tuning.minWorkgroups, b * nblk))),
    align,
  );
  segLen = Math.max(segLen, roundUp(Math.min(l, 4 * cfg.T), align));
  const nseg = ceil(l, segLen);
  return { cfg, nseg, segLen, nblk, nck: K > 0 ? ceil(l, K) : 0 };
}

type Info = tf.TensorInfo;

/**
 * The carry pass between the local and full passes of a length-split scan:
 * from each segment's local end state and decay sum, the state entering every
 * segment (forward) or the state gradient leaving it (`reverse`, backward).
 *
 * @param local (b, nseg, dIn, N) per-segment states from the local pass.
 * @param ssum (b, nseg, dIn) per-segment sums of Δ'.
 * @param start (b, dIn, N) initial state (forward) or final-state gradient (backward).
 * @returns (b, nseg, dIn, N) carried states.
 */
function carryPass(
  backend: ReturnType<typeof webgpuBackend>,
  local: Info,
  ssum: Info,
  P: Info,
  start: Info | undefined,
  reverse: boolean,
  dims: [number, number, number, number],
): Info {
  const [b, dIn, nseg, N] = dims;
  const out = allocate(backend, [b, nseg, dIn, N]);
  const key = `mamba_carry_${!!start}_${reverse ? 1 : 0}`;
  const cp = pipeline(backend.device, key, () => carryShader(!!start, reverse));
  dispatch(
    backend,
    cp,
    [out, local, ssum, P, ...(start ? [start] : [])],
    dims,
    [
      ceil(b * dIn * N, 64),
      1,
      1,
    ],
  );
  return out;
}

function forwardKernel(
  { inputs, attrs }: {
    inputs: unknown;
    attrs?: unknown;
  },
): Info[] {
  const backend = webgpuBackend();
  const device = backend.device;
  const flags = attrs as unknown as ScanFlags & { K: number };
  const list = inputs as Info[];
  const [u, dl, P, B, C] = list;
  let k = 5;
  const z = flags.hasZ ? list[k++] : undefined;
  const init = flags.hasInit ? list[k++] : undefined;
  const [b, l, dIn] = u.shape;
  const N = P.shape[1] - 2;
  const plan = planForward(device, b, l, dIn, N, flags, flags.K);
  const { cfg, nseg, segLen, nblk, nck } = plan;
  const uni = [b, l, dIn, segLen, nseg, nck];
  let hin = init;
  const temps: Info[] = [];
  if (nseg > 1) {
    const lcfg: ForwardConfig = { ...cfg, mode: "local", K: 0, hasHin: false };
    const hloc = allocate(backend, [b, nseg, dIn, N]);
    const ssum = allocate(backend, [b, nseg, dIn]);
    const lp = pipeline(device, forwardKey(lcfg), () => forwardShader(lcfg));
    dispatch(backend, lp, [hloc, ssum, u, dl, P, B], uni, [nblk, nseg, b]);
    hin = carryPass(backend, hloc, ssum, P, init, false, [b, dIn, nseg, N]);
    temps.push(hloc, ssum, hin);
  }
  const fcfg: ForwardConfig = { ...cfg, hasHin: !!hin };
  const y = allocate(backend, [b, l, dIn]);
  const hend = allocate(backend, [b, dIn, N]);
  const ck = allocate(backend, fcfg.K > 0 ? [b, nck, dIn, N] : [0]);
  const fp = pipeline(device, forwardKey(fcfg), () => forwardShader(fcfg));
  dispatch(
    backend,
    fp,
    [
      y,
      hend,
      ...(fcfg.K > 0 ? [ck] : []),
      u,
      dl,
      P,
      B,
      C,
      ...(z ? [z] : []),
      ...(hin ? [hin] : []),
    ],
    uni,
    [nblk, nseg, b],
  );
  for (const t of temps) release(backend, t);
  return [y, hend, ck];
}

function backwardKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const device = backend.device;
  const flags = attrs as unknown as ScanFlags & { K: number };
  const list = inputs as Info[];
  const [u, dl, P, B, C] = list;
  let k = 5;
  const z = flags.hasZ ? list[k++] : undefined;
  const [ckpt, gy, gstate] = list.slice(k);
  const [b, l, dIn] = u.shape;
  const N = P.shape[1] - 2;
  const K = flags.K;
  const DC = 64;
  const nblk = ceil(dIn, DC);
  const nck = ceil(l, K);
  const segLen = tuning.backwardSegLen > 0
    ? roundUp(tuning.backwardSegLen, K)
    : roundUp(
      ceil(l, Math.max(1, ceil(tuning.minBackwardThreads, b * dIn))),
      K,
    );
  const nseg = ceil(l, segLen);
  const base = { ...flags, N, DC, K };
  const uni = [b, l, dIn, segLen, nseg, nck, nblk];
  const temps: Info[] = [];
  let ghEnd: Info | undefined = gstate;
  if (nseg > 1) {
    const lc: BackwardConfig = { ...base, hasGhEnd: false };
    const ghloc = allocate(backend, [b, nseg, dIn, N]);
    const ssum = allocate(backend, [b, nseg, dIn]);
    const lp = pipeline(
      device,
      backwardKey(lc, true),
      () => backwardLocalShader(lc),
    );
    dispatch(
      backend,
      lp,
      [ghloc, ssum, dl, P, C, ...(z ? [z] : []), gy],
      uni,
      [nblk, nseg, b],
    );
    ghEnd = carryPass(backend, ghloc, ssum, P, gstate, true, [b, dIn, nseg, N]);
    temps.push(ghloc, ssum, ghEnd);
  }
  const c: BackwardConfig = { ...base, hasGhEnd: !!ghEnd };
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (backwardWorkgroupBytes(c) > limit) {
    throw new Error(
      `webgpu scan backward: N=${N}, K=${K} needs ${
        backwardWorkgroupBytes(c)
      } bytes of workgroup memory, limit ${limit}`,
    );
  }
  const gu = allocate(backend, [b, l, dIn]);
  const gdl = allocate(backend, [b, l, dIn]);
  const gz = allocate(backend, z ? [b, l, dIn] : [0]);
  const gBC = allocate(backend, [b, nblk, l, 2 * N]);
  const gAux = allocate(backend, [b, nseg, dIn, 2 * N + 1]);
  const p = pipeline(device, backwardKey(c, false), () => backwardShader(c));
  dispatch(
    backend,
    p,
    [
      gu,
      gdl,
      ...(z ? [gz] : []),
      gBC,
      gAux,
      u,
      dl,
      P,
      B,
      C,
      ...(z ? [z] : []),
      ckpt,
      gy,
      ...(ghEnd ? [ghEnd] : []),
    ],
    uni,
    [nblk, nseg, b],
  );
  for (const t of temps) release(backend, t);
  return [gu, gdl, gz, gBC, gAux];
}

function stepKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const flags = attrs as unknown as ScanFlags;
  const list = inputs as Info[];
  const [u, dl, P, B, C] = list;
  const z = flags.hasZ ? list[5] : undefined;
  const h = list[list.length - 1];
  const [b, dIn] = u.shape;
  const N = P.shape[1] - 2;
  const c: StepConfig = { N, ...flags };
  const y = allocate(backend, [b, dIn]);
  const hnew = allocate(backend, [b, dIn, N]);
  const p = pipeline(backend.device, stepKey(c), () => stepShader(c));
  dispatch(
    backend,
    p,
    [y, hnew, u, dl, P, B, C, ...(z ? [z] : []), h],
    [b, dIn],
    [ceil(b * dIn, 64), 1, 1],
  );
  return [y, hnew];
}

/** @returns the checkpoint interval the forward kernel uses now. */
export function checkpointInterval(): number {
  return tuning.checkpoint;
}

let registered = false;

/**
 * Registers the three kernels for the "webgpu" backend and the forward
 * kernel's gradient (idempotent). The gradient function is given separately
 * because it is written with tf ops (selective_scan_webgpu.ts).
 *
 * @param gradFunc gradient of {@linkcode SCAN_FWD}.
 */
export function registerScanKernels(gradFunc: tf.GradConfig["gradFunc"]): void {
  if (registered) return;
  registered = true;
  const kernels = [
    [SCAN_FWD, forwardKernel],
    [SCAN_BWD, backwardKernel],
    [SCAN_STEP, stepKernel],
  ] as const;
  for (const [kernelName, fn] of kernels) {
    tf.registerKernel({
      kernelName,
      backendName: "webgpu",
      kernelFunc: fn as unknown as tf.KernelFunc,
    });
  }
  tf.registerGradient({
    kernelName: SCAN_FWD,
    saveAllInputs: true,
    outputsToSave: [false, false, true],
    gradFunc,
  });
}
