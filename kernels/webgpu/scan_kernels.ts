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
  dispatchLaunch,
  gpuZeros,
  isCpuZeros,
  type Launch,
  onSoftwareAdapter,
  pipeline,
  type Plan,
  release,
  runPlan,
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
  type LanesConfig,
  lanesConfigProblem,
  lanesKey,
  lanesShader,
  lanesWorkgroupBytes,
} from "./_wgsl_forward_lanes.ts";
import {
  type BackwardConfig,
  backwardKey,
  backwardShader,
  backwardWorkgroupBytes,
} from "./_wgsl_backward.ts";
import { reduceBCShader, reduceRowsLaunch } from "./_wgsl_reduce.ts";
import { registerWebGPUKernels } from "./_register.ts";
import { type StepConfig, stepKey, stepShader } from "./_wgsl_step.ts";

/** Name of the forward kernel: outputs [y, final state, checkpoints]. */
export const SCAN_FWD = "MambaSelectiveScan";
/** Name of the backward kernel: outputs [gu, gΔ, gz, gP, gB, gC, gInit]. */
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

/**
 * Launch parameters. A pass's workgroup is (channels × runs) threads and
 * walks chunks of runs × steps time steps (see `_wgsl_forward.ts`).
 */
export interface ScanTuning {
  /** Forward: channels per workgroup. */
  fwdChannels: number;
  /** Forward: runs per chunk (threads per channel). */
  fwdRuns: number;
  /** Forward: steps per run (made a divisor of the backward chunk). */
  fwdSteps: number;
  /** Backward: channels per workgroup. */
  bwdChannels: number;
  /** Backward: runs per chunk. */
  bwdRuns: number;
  /** Backward: steps per run (unrolled; registers grow with it). */
  bwdSteps: number;
  /**
   * Forward: split length into segments until this many workgroups exist
   * (64: on the H200 at its working clock, no split was fastest at
   * (1, 2048, 1536) and (1, 8192, 5120), i.e. 96 and 320 workgroups;
   * BENCHMARKS.md, fifth session).
   */
  minWorkgroups: number;
  /** Backward: the same. */
  minBackwardWorkgroups: number;
  /**
   * Backward: the most bytes one call's ∂B/∂C partials may take (b ·
   * ceil(dIn / bwdChannels) · N · 2 · l floats), 0 for the device's
   * `maxStorageBufferBindingSize`; a larger batch is split into calls over
   * batch slices ({@linkcode backwardBatchRows}).
   */
  backwardPartialsBytes: number;
  /** Force a forward segment length (rounded up to a chunk), 0 for automatic. */
  segLen: number;
  /** Force a backward segment length (rounded up to a chunk), 0 for automatic. */
  backwardSegLen: number;
  /**
   * Forward kernel: `"chunked"` (the two-phase scan of `_wgsl_forward.ts`,
   * split over the length when the GPU would idle), `"lanes"` (states spread
   * over lanes, one pass, no split: `_wgsl_forward_lanes.ts`), or `"auto"`
   * (the default: {@linkcode forwardKernelFor}).
   */
  fwdKernel: "auto" | "chunked" | "lanes";
  /** `"auto"` takes the lanes forward from this many (batch, channel) pairs. */
  lanesFromPairs: number;
  /** Lanes forward: lanes per channel (capped at the largest power of two dividing N). */
  lanesPerChannel: number;
  /**
   * Lanes forward: channels per workgroup (capped so a workgroup is ≤ 256
   * threads; halved, down to 8, while fewer than 256
   * workgroups would run).
   */
  lanesChannels: number;
  /** Lanes forward: steps per tile (rounded up to a multiple of the lanes). */
  lanesTile: number;
  /**
   * Lanes forward: a channel's lanes are adjacent threads, their shares
   * summed with one vector read, B and C read as vec4 (`_wgsl_forward_lanes.ts`).
   * On the H200 at (8, 2048, 1536, 16) with 4 lanes × 16 channels × 16
   * steps: 0.399 ms against 0.561 ms strided (BENCHMARKS.md, fifth session).
   * The strided layout (false) stays as that measurement's baseline:
   * `bench/scan_ablation_gpu.ts` times both, and the tests check both.
   */
  lanesAdjacent: boolean;
}

const DEFAULTS: ScanTuning = {
  fwdChannels: 16,
  fwdRuns: 16,
  fwdSteps: 8,
  bwdChannels: 16,
  bwdRuns: 8,
  bwdSteps: 8,
  minWorkgroups: 64,
  minBackwardWorkgroups: 512,
  backwardPartialsBytes: 0,
  segLen: 0,
  backwardSegLen: 0,
  fwdKernel: "auto",
  lanesFromPairs: 8192,
  lanesPerChannel: 4,
  lanesChannels: 16,
  lanesTile: 16,
  lanesAdjacent: true,
};
/**
 * Small launch shapes, 4 channels × 4 runs × 2 steps (chunks of 8 steps,
 * forward and backward), taken by default on a software adapter (Mesa's
 * llvmpipe, PCI vendor 0x10005) and by the tests and `bench/scan_gpu.ts
 * --quick` everywhere: the shaders unroll the steps of a run and llvmpipe's
 * compile time grows steeply with that (minutes per shader on the defaults'
 * 8 steps, seconds on these); the code paths are the same.
 */
export const SOFTWARE_TUNING: Readonly<Partial<ScanTuning>> = Object.freeze({
  fwdChannels: 4,
  fwdRuns: 4,
  fwdSteps: 2,
  bwdChannels: 4,
  bwdRuns: 4,
  bwdSteps: 2,
  lanesChannels: 8,
  lanesTile: 4,
});
const tuning: ScanTuning = { ...DEFAULTS };
/** The lanes forward halves its channels per workgroup below this many workgroups. */
const LANES_MIN_WORKGROUPS = 256;
const overridden = new Set<string>();
let adapted = false;

/** On the first kernel call: software adapter → {@linkcode SOFTWARE_TUNING}. */
function adaptToAdapter(): void {
  if (adapted) return;
  adapted = true;
  if (!onSoftwareAdapter()) return;
  Object.assign(DEFAULTS, SOFTWARE_TUNING);
  for (const [k, v] of Object.entries(SOFTWARE_TUNING)) {
    if (!overridden.has(k)) Object.assign(tuning, { [k]: v });
  }
}

/**
 * Overrides launch parameters (benchmarks and tests); `{}` reads them,
 * `"defaults"` restores the defaults.
 *
 * @param t the parameters to change.
 * @returns the parameters now in force.
 */
export function setScanTuning(t: Partial<ScanTuning> | "defaults"): ScanTuning {
  if (t === "defaults") overridden.clear();
  else Object.keys(t).forEach((k) => overridden.add(k));
  Object.assign(tuning, t === "defaults" ? DEFAULTS : t);
  return { ...tuning };
}

/**
 * The forward kernel `"auto"` takes for b·dIn (batch, channel) pairs: the
 * lanes forward walks the whole length in every workgroup, so it needs many
 * pairs to fill the GPU; with few, the chunked forward's length split wins.
 * On the H200, side by side in one run (BENCHMARKS.md): lanes faster at
 * (8, 2048, 1536) and (16, 4096, 2048), i.e. 12 288 and 32 768 pairs; chunked
 * 3.5–4× faster at (1, 2048, 1536) and mostly faster at (1, 8192, 5120).
 *
 * @param b batch.
 * @param dIn channels.
 * @param t the tuning (default: the one in force).
 * @returns the kernel the forward runs.
 */
export function forwardKernelFor(
  b: number,
  dIn: number,
  t: Readonly<ScanTuning> = tuning,
): "chunked" | "lanes" {
  if (t.fwdKernel !== "auto") return t.fwdKernel;
  return b * dIn >= t.lanesFromPairs ? "lanes" : "chunked";
}

const ceil = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, m: number) => ceil(a, m) * m;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * How many batch rows one backward call may take: its ∂B/∂C partials, one
 * per channel block, must fit one storage binding (at (16, 4096, 2048, 16)
 * they take 1 GiB; the H200 binds at most 2 GiB).
 *
 * @param l sequence length.
 * @param dIn channels.
 * @param N state size.
 * @returns rows per call (at least 1).
 * @throws RangeError when even one row's partials do not fit.
 */
export function backwardBatchRows(l: number, dIn: number, N: number): number {
  const limit = tuning.backwardPartialsBytes ||
    webgpuBackend().device.limits.maxStorageBufferBindingSize;
  const perRow = 4 * ceil(dIn, tuning.bwdChannels) * N * 2 * l;
  if (perRow > limit) {
    throw new RangeError(
      `webgpu scan backward: one batch row's ∂B/∂C partials take ${perRow} bytes (length ${l}, ${dIn} channels, state ${N}), over this device's ${limit}-byte storage binding; use a shorter sequence`,
    );
  }
  return Math.floor(limit / perRow);
}

/** @returns the checkpoint interval: the backward chunk, bwdRuns × bwdSteps. */
export function checkpointInterval(): number {
  if (tf.getBackend() === "webgpu") adaptToAdapter();
  return tuning.bwdRuns * tuning.bwdSteps;
}

/**
 * Length segments: enough that b · blocks · segments ≥ minWg (or the forced
 * length), each a multiple of the chunk.
 */
function segments(
  l: number,
  groups: number,
  minWg: number,
  forced: number,
  chunk: number,
): [number, number] {
  const segLen = forced > 0
    ? roundUp(forced, chunk)
    : roundUp(ceil(l, Math.max(1, ceil(minWg, groups))), chunk);
  return [segLen, ceil(l, segLen)];
}

function checkShared(device: GPUDevice, bytes: number, what: string): void {
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit) {
    throw new Error(
      `webgpu scan: ${what} needs ${bytes} bytes of workgroup memory, limit ${limit}`,
    );
  }
}

type Info = tf.TensorInfo;
type Backend = ReturnType<typeof webgpuBackend>;

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
  backend: Backend,
  local: Info,
  ssum: Info,
  P: Info,
  start: Info | undefined,
  reverse: boolean,
  dims: [number, number, number, number],
): Info {
  const [b, dIn, nseg, N] = dims;
  const out = allocate(backend, [b, nseg, dIn, N]);
  dispatchLaunch(backend, carryLaunch(!!start, reverse, dims), [
    out,
    local,
    ssum,
    P,
    ...(start ? [start] : []),
  ]);
  return out;
}

/**
 * The carry pass's dispatch. Storage bindings: out, local, ssum, P,
 * [start].
 *
 * @param hasStart whether a start state is bound.
 * @param reverse backward direction.
 * @param dims [b, dIn, nseg, N].
 * @returns the launch.
 */
function carryLaunch(
  hasStart: boolean,
  reverse: boolean,
  dims: [number, number, number, number],
): Launch {
  const [b, dIn, , N] = dims;
  return {
    key: `mamba_carry_${hasStart}_${reverse ? 1 : 0}`,
    wgsl: () => carryShader(hasStart, reverse),
    uniforms: dims,
    groups: [ceil(b * dIn * N, 64), 1, 1],
  };
}

/** Sizes, flags and layout of one forward scan. */
export interface ScanForwardShape {
  b: number;
  l: number;
  dIn: number;
  N: number;
  /** z given (the SiLU gate). */
  hasZ: boolean;
  softplus: boolean;
  /** An initial state `init` (b, dIn, N) given. */
  hasInit: boolean;
  /** Checkpoint interval (0: none, inference). */
  K: number;
  /** Floats between z's rows (default dIn) and z's first channel (default 0). */
  zStride?: number;
  zOff?: number;
}

/**
 * The forward scan's dispatches with the tuning in force: the lanes forward
 * (one pass) or the chunked one (with a local pass and a carry pass first
 * when the length is split). Buffer names: inputs u, dl, P, B, C, z, init;
 * outputs y (b, l, dIn), hend (b, dIn, N), ck (b, nck, dIn, N) when K > 0;
 * the temporaries in `temps`. The tfjs kernel records it; a prebuilt
 * forward binds it once.
 *
 * @param device the device (its workgroup memory limit).
 * @param x sizes, flags and layout.
 * @returns the plan.
 */
export function scanForwardPlan(
  device: GPUDevice,
  x: ScanForwardShape,
): Plan {
  adaptToAdapter();
  const { b, l, dIn, N, K } = x;
  const nck = K > 0 ? ceil(l, K) : 0;
  const temps: Record<string, number[]> = {};
  const ck = K > 0 ? "ck" : "ckUnused";
  if (K === 0) temps.ckUnused = [4];
  const z = x.hasZ ? ["z"] : [];
  const zLayout = [x.zStride ?? dIn, x.zOff ?? 0];
  if (forwardKernelFor(b, dIn) === "lanes") {
    let SL = 1;
    while (SL < tuning.lanesPerChannel && N % (2 * SL) === 0) SL *= 2;
    // Fewer channels per workgroup while the workgroups would not fill the
    // GPU (each walks the whole length, so idle multiprocessors are not made up).
    let DC = Math.max(1, Math.min(tuning.lanesChannels, Math.floor(256 / SL)));
    while (DC > 8 && b * ceil(dIn, DC) < LANES_MIN_WORKGROUPS) {
      DC = Math.floor(DC / 2);
    }
    const T = roundUp(Math.max(tuning.lanesTile, SL), SL);
    const cfg: LanesConfig = {
      N,
      SL,
      DC,
      T,
      hasZ: x.hasZ,
      adjacent: tuning.lanesAdjacent,
    };
    const problem = lanesConfigProblem(cfg);
    if (problem) throw new Error(`webgpu scan: lanes forward: ${problem}`);
    checkShared(device, lanesWorkgroupBytes(cfg), `lanes forward N=${N}`);
    return {
      temps,
      steps: [{
        launch: {
          key: lanesKey(cfg),
          wgsl: () => lanesShader(cfg),
          uniforms: [b, l, dIn, nck, K, +x.softplus, +x.hasInit, ...zLayout],
          groups: [ceil(dIn, DC), 1, b],
        },
        buffers: [
          "y",
          "hend",
          ck,
          "u",
          "dl",
          "P",
          "B",
          "C",
          ...z,
          x.hasInit ? "init" : "u",
        ],
      }],
    };
  }
  const DC = tuning.fwdChannels;
  const S = tuning.fwdRuns;
  const m = K > 0 ? gcd(tuning.fwdSteps, K) : tuning.fwdSteps;
  const cfg: ForwardConfig = { mode: "full", N, DC, S, m, hasZ: x.hasZ };
  checkShared(device, forwardWorkgroupBytes(cfg), `forward N=${N}`);
  const nblk = ceil(dIn, DC);
  const [segLen, nseg] = segments(
    l,
    b * nblk,
    tuning.minWorkgroups,
    tuning.segLen,
    S * m,
  );
  const uni = (hasHin: boolean) => [
    b,
    l,
    dIn,
    segLen,
    nseg,
    nck,
    K,
    +x.softplus,
    +hasHin,
    ...zLayout,
  ];
  const steps: Plan["steps"] = [];
  let hin = x.hasInit ? "init" : "";
  if (nseg > 1) {
    const lcfg: ForwardConfig = { ...cfg, mode: "local", hasZ: false };
    temps.hloc = [b, nseg, dIn, N];
    temps.ssum = [b, nseg, dIn];
    temps.hin = [b, nseg, dIn, N];
    steps.push({
      launch: {
        key: forwardKey(lcfg),
        wgsl: () => forwardShader(lcfg),
        uniforms: uni(false),
        groups: [nblk, nseg, b],
      },
      buffers: ["hloc", "ssum", "u", "dl", "P", "B", "u"],
    }, {
      launch: carryLaunch(x.hasInit, false, [b, dIn, nseg, N]),
      buffers: ["hin", "hloc", "ssum", "P", ...(x.hasInit ? ["init"] : [])],
    });
    hin = "hin";
  }
  steps.push({
    launch: {
      key: forwardKey(cfg),
      wgsl: () => forwardShader(cfg),
      uniforms: uni(hin !== ""),
      groups: [nblk, nseg, b],
    },
    buffers: ["y", "hend", ck, "u", "dl", "P", "B", "C", ...z, hin || "u"],
  });
  return { temps, steps };
}

function forwardKernel(
  { inputs, attrs }: { inputs: unknown; attrs?: unknown },
): Info[] {
  const backend = webgpuBackend();
  const flags = attrs as unknown as ScanFlags & { K: number };
  const list = inputs as Info[];
  const [u, dl, P, B, C] = list;
  let k = 5;
  const z = flags.hasZ ? list[k++] : undefined;
  const init = flags.hasInit ? list[k++] : undefined;
  const [b, l, dIn] = u.shape;
  const N = P.shape[1] - 2;
  const K = flags.K;
  const plan = scanForwardPlan(backend.device, {
    b,
    l,
    dIn,
    N,
    hasZ: !!z,
    softplus: flags.softplus,
    hasInit: !!init,
    K,
  });
  const named: Record<string, Info> = { u, dl, P, B, C };
  if (z) named.z = z;
  if (init) named.init = init;
  const y = named.y = allocate(backend, [b, l, dIn]);
  const hend = named.hend = allocate(backend, [b, dIn, N]);
  const ck = named.ck = allocate(
    backend,
    K > 0 ? [b, ceil(l, K), dIn, N] : [0],
  );
  runPlan(backend, plan, named);
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
  const [ckpt, gyIn, gstateIn] = list.slice(k);
  const [b, l, dIn] = u.shape;
  // tfjs's engine passes CPU-built zeros as the gradient of an output the loss
  // does not use (the final state, usually): never upload them. A zero final
  // state gradient is the same as none; a zero ∂y is cleared on the GPU.
  const temps: Info[] = [];
  const gstate = isCpuZeros(backend, gstateIn) ? undefined : gstateIn;
  let gy = gyIn;
  if (isCpuZeros(backend, gyIn)) {
    temps.push(gy = gpuZeros(backend, [b, l, dIn]));
  }
  const N = P.shape[1] - 2;
  const K = flags.K;
  const DC = tuning.bwdChannels;
  const S = tuning.bwdRuns;
  if (K % S !== 0) {
    throw new Error(
      `webgpu scan backward: checkpoint interval ${K} is not a multiple of bwdRuns ${S} (tuning changed between forward and backward?)`,
    );
  }
  const cfg: BackwardConfig = { mode: "full", N, DC, S, m: K / S, hasZ: !!z };
  checkShared(device, backwardWorkgroupBytes(cfg), `backward N=${N}`);
  const nblk = ceil(dIn, DC);
  const nck = ceil(l, K);
  const [segLen, nseg] = segments(
    l,
    b * nblk,
    tuning.minBackwardWorkgroups,
    tuning.backwardSegLen,
    K,
  );
  const uni = (hasGhEnd: boolean) => [
    b,
    l,
    dIn,
    segLen,
    nseg,
    nck,
    K,
    nblk,
    +flags.softplus,
    +hasGhEnd,
  ];
  let ghEnd: Info | undefined = gstate;
  if (nseg > 1) {
    const lc: BackwardConfig = { ...cfg, mode: "local" };
    const ghloc = allocate(backend, [b, nseg, dIn, N]);
    const ssum = allocate(backend, [b, nseg, dIn]);
    const lp = pipeline(device, backwardKey(lc), () => backwardShader(lc));
    dispatch(
      backend,
      lp,
      [ghloc, ssum, dl, P, C, ...(z ? [z] : []), gy],
      uni(false),
      [nblk, nseg, b],
    );
    ghEnd = carryPass(backend, ghloc, ssum, P, gstate, true, [b, dIn, nseg, N]);
    temps.push(ghloc, ssum, ghEnd);
  }
  const gu = allocate(backend, [b, l, dIn]);
  const gdl = allocate(backend, [b, l, dIn]);
  const gz = allocate(backend, z ? [b, l, dIn] : [0]);
  const gBC = allocate(backend, [b, nblk, N, 2, l]);
  const gAux = allocate(backend, [b, nseg, dIn, N + 2]);
  const gh0 = allocate(backend, [b, dIn, N]);
  temps.push(gBC, gAux);
  const p = pipeline(device, backwardKey(cfg), () => backwardShader(cfg));
  dispatch(
    backend,
    p,
    [
      gu,
      gdl,
      ...(z ? [gz] : []),
      gBC,
      gAux,
      gh0,
      u,
      dl,
      P,
      B,
      C,
      ...(z ? [z] : []),
      ckpt,
      gy,
      ghEnd ?? u,
    ],
    uni(!!ghEnd),
    [nblk, nseg, b],
  );
  const gB = allocate(backend, [b, l, N]);
  const gC = allocate(backend, [b, l, N]);
  const rbc = pipeline(device, "mamba_reduce_bc", reduceBCShader);
  dispatch(backend, rbc, [gB, gC, gBC], [b, l, N, nblk], [
    ceil(b * N * l, 256),
    1,
    1,
  ]);
  const gP = allocate(backend, [dIn, N + 2]);
  dispatchLaunch(backend, reduceRowsLaunch(device, b * nseg, dIn * (N + 2)), [
    gP,
    gAux,
  ]);
  for (const t of temps) release(backend, t);
  return [gu, gdl, gz, gP, gB, gC, gh0];
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
  registerWebGPUKernels([
    [SCAN_FWD, forwardKernel],
    [SCAN_BWD, backwardKernel],
    [SCAN_STEP, stepKernel],
  ]);
  tf.registerGradient({
    kernelName: SCAN_FWD,
    saveAllInputs: true,
    outputsToSave: [false, false, true],
    gradFunc,
  });
}
