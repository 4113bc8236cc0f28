/**
 * The Mamba-2 SSD on WebGPU: the chunked forward (five dispatches, see
 * `_wgsl_ssd.ts`) as a {@linkcode Plan}, the one-token step and the gated
 * RMSNorm as {@linkcode Launch}es — what the program's WebGPU executor
 * binds for `mamba2` layers — and tfjs entry points over tensors
 * ({@linkcode webgpuSsd}, {@linkcode webgpuSsdStep},
 * {@linkcode webgpuGatedNorm}) for tests and callers outside a program.
 *
 * Inputs x, dt, B, C (and the norm's z) are read in place from rows of a
 * wider buffer ({@linkcode Rows}): in a Mamba-2 layer they are column
 * ranges of in_proj's and the conv's outputs, never copied.
 *
 * Glossary: `b` batch, `l` length, `h` heads, `p` head dim, `g` groups,
 * `n` state size, `Q` chunk size, `nc` = ⌈l / Q⌉ chunks, `dIn` = h·p.
 *
 * Reference: Dao & Gu (2024) §6–7; state-spaces/mamba
 * `ops/triton/ssd_combined.py` (`_mamba_chunk_scan_combined_fwd`).
 *
 * @module
 */
import { tf } from "../backend.ts";
import type { DtLimit } from "../ssd_types.ts";
import {
  allocate,
  dispatchLaunch,
  gpuZeros,
  groupGrid,
  type Launch,
  type Plan,
  runPlan,
  webgpuBackend,
} from "./_dispatch.ts";
import {
  FLAT_WORKGROUP,
  gatedNormShader,
  ssdCbShader,
  ssdDtShader,
  ssdOutShader,
  ssdPassShader,
  ssdStatesShader,
  ssdStepShader,
  TILE,
} from "./_wgsl_ssd.ts";

/** Rows read in place: element j of row r at `r · stride + offset + j`. */
export interface Rows {
  /** Floats between consecutive rows. */
  stride: number;
  /** The first element's column. */
  offset: number;
}

/** Sizes and layouts of {@linkcode ssdForwardPlan}. */
export interface SsdPlanDims {
  b: number;
  l: number;
  h: number;
  p: number;
  g: number;
  n: number;
  /** Chunk size Q. */
  chunk: number;
  /** x (b·l rows of h·p). */
  x: Rows;
  /** dt (b·l rows of h). */
  dt: Rows;
  /** B (b·l rows of g·n). */
  B: Rows;
  /** C (b·l rows of g·n). */
  C: Rows;
  /** Clamp of Δ' after the softplus (`time_step_limit`), if any. */
  dtLimit?: DtLimit;
  /** Whether an initial state (b, h, p, n) is bound as `init`. */
  hasInit: boolean;
}

const FLT_MAX = 3.4028234663852886e38;

/** @returns the f32 bits of v, ±Infinity as ±FLT_MAX. */
function f32Bits(v: number): number {
  const c = Math.max(-FLT_MAX, Math.min(FLT_MAX, v));
  return new Uint32Array(new Float32Array([c]).buffer)[0];
}

function checkDims(d: SsdPlanDims): void {
  for (const k of ["b", "l", "h", "p", "g", "n", "chunk"] as const) {
    if (!Number.isInteger(d[k]) || d[k] < 1) {
      throw new Error(
        `ssdForwardPlan: ${k}: expected a positive integer, received ${d[k]}`,
      );
    }
  }
  if (d.h % d.g !== 0) {
    throw new Error(
      `ssdForwardPlan: g: expected a divisor of h = ${d.h}, received ${d.g}`,
    );
  }
}

/**
 * The chunked SSD forward as five dispatches.
 *
 * Named buffers: y (b, l, h·p) and fin (b, h, p, n) (outputs); x, dt, B,
 * C (rows as in `dims`); P (h, 3) = [A | D | dtBias]
 * ({@linkcode packSsdParams}); init (b, h, p, n) when `hasInit`.
 * Temporaries: dA (b, h, l, 3), states (b, nc, h, p, n), cb (b, nc, g, Q, Q).
 *
 * @param device the device (its grid limit).
 * @param dims sizes, row layouts, time-step limit, initial state.
 * @returns the plan.
 * @throws Error naming a size that is not a positive integer, or g not
 *   dividing h.
 */
export function ssdForwardPlan(device: GPUDevice, dims: SsdPlanDims): Plan {
  checkDims(dims);
  const { b, l, h, p, g, n } = dims;
  const Q = Math.min(dims.chunk, l); // one unpadded chunk when l < chunk
  const nc = Math.ceil(l / Q);
  const [lo, hi] = dims.dtLimit ?? [-Infinity, Infinity];
  const base = [
    b,
    l,
    h,
    p,
    g,
    n,
    Q,
    nc,
    dims.x.stride,
    dims.x.offset,
    dims.dt.stride,
    dims.dt.offset,
    dims.B.stride,
    dims.B.offset,
    dims.C.stride,
    dims.C.offset,
    f32Bits(lo),
    f32Bits(hi),
    +dims.hasInit,
  ];
  const flat = (key: string, wgsl: () => string, threads: number): Launch => {
    const groups = groupGrid(device, Math.ceil(threads / FLAT_WORKGROUP));
    return { key, wgsl, uniforms: [...base, groups[0]], groups };
  };
  const tiled = (
    key: string,
    wgsl: () => string,
    m: number,
    nn: number,
    z: number,
  ): Launch => ({
    key,
    wgsl,
    uniforms: [...base, 0],
    groups: [
      Math.ceil(m / TILE.BM) * Math.ceil(nn / TILE.BN),
      nc,
      z,
    ],
  });
  return {
    temps: {
      dA: [b, h, l, 3],
      states: [b, nc, h, p, n],
      cb: [b, nc, g, Q, Q],
    },
    steps: [
      {
        launch: {
          key: "ssd_dt",
          wgsl: ssdDtShader,
          uniforms: [...base, 0],
          groups: [nc, b * h, 1],
        },
        buffers: ["dA", "dt", "P"],
      },
      {
        launch: tiled("ssd_states", ssdStatesShader, p, n, b * h),
        buffers: ["states", "x", "dA", "B"],
      },
      {
        launch: flat("ssd_pass", ssdPassShader, b * h * p * n),
        buffers: ["states", "fin", "dA", dims.hasInit ? "init" : "dA"],
      },
      {
        launch: tiled("ssd_cb", ssdCbShader, Q, Q, b * g),
        buffers: ["cb", "C", "B"],
      },
      {
        launch: tiled("ssd_out", ssdOutShader, Q, p, b * h),
        buffers: ["y", "cb", "x", "dA", "C", "states", "P"],
      },
    ],
  };
}

/** Sizes and layouts of {@linkcode ssdStepLaunch}. */
export interface SsdStepDims {
  b: number;
  h: number;
  p: number;
  g: number;
  n: number;
  /** x (b rows of h·p). */
  x: Rows;
  /** dt (b rows of h). */
  dt: Rows;
  /** B (b rows of g·n). */
  B: Rows;
  /** C (b rows of g·n). */
  C: Rows;
}

/**
 * One SSD step: Δ' = softplus(dt + dtBias) with no time-step limit (as the
 * official `Mamba2.step` and transformers' decode).
 *
 * Bindings: y (b, h·p), state (b, h, p, n) (outputs), x, dt, P, B, C,
 * init (b, h, p, n) — init and state must be different buffers.
 *
 * @param device the device (its grid limit).
 * @param d sizes and row layouts.
 * @returns the launch.
 */
export function ssdStepLaunch(device: GPUDevice, d: SsdStepDims): Launch {
  const groups = groupGrid(device, d.b * d.h * d.p);
  return {
    key: "ssd_step",
    wgsl: ssdStepShader,
    uniforms: [
      d.b,
      d.h,
      d.p,
      d.g,
      d.n,
      d.x.stride,
      d.x.offset,
      d.dt.stride,
      d.dt.offset,
      d.B.stride,
      d.B.offset,
      d.C.stride,
      d.C.offset,
      groups[0],
    ],
    groups,
  };
}

/** Options of {@linkcode gatedNormLaunch}. */
export interface GatedNormOptions {
  /** Rows of y (and of the output). */
  rows: number;
  /** Channels per row. */
  d: number;
  /** Channels per group (divides d; d: the whole width). */
  size: number;
  /** Added to the mean square. */
  eps: number;
  /** y's row layout. */
  y: Rows;
  /** z's row layout, or undefined for no gate (v = y). */
  z?: Rows;
  /** Whether a weight w (d) is bound (else 1). */
  hasW: boolean;
}

/**
 * The gated RMSNorm of a Mamba-2 layer: v = y · SiLU(z), normalised over
 * groups of `size` channels, times w; without z and w, Falcon-Mamba's
 * weightless RMS norm.
 *
 * Bindings: out (rows, d), y, z (any buffer without a gate), w (any
 * buffer without a weight).
 *
 * @param device the device (its grid limit).
 * @param o sizes, layouts and which parts are present.
 * @returns the launch.
 * @throws Error when size does not divide d.
 */
export function gatedNormLaunch(
  device: GPUDevice,
  o: GatedNormOptions,
): Launch {
  const { rows, d, size } = o;
  if (!Number.isInteger(size) || size < 1 || d % size !== 0) {
    throw new Error(
      `gatedNormLaunch: size: expected a divisor of d = ${d}, received ${size}`,
    );
  }
  const groups = groupGrid(device, rows * (d / size));
  return {
    key: "ssd_gated_norm",
    wgsl: gatedNormShader,
    uniforms: [
      rows,
      d,
      size,
      o.y.stride,
      o.y.offset,
      o.z?.stride ?? 0,
      o.z?.offset ?? 0,
      f32Bits(o.eps),
      +!!o.z,
      +o.hasW,
      groups[0],
    ],
    groups,
  };
}

/**
 * @param A (h) negative decay per head.
 * @param D (h) skip, or undefined for zeros.
 * @param dtBias (h), or undefined for zeros.
 * @returns P (h, 3) = [A | D | dtBias] (a new tensor).
 */
export function packSsdParams(
  A: tf.Tensor1D,
  D?: tf.Tensor1D,
  dtBias?: tf.Tensor1D,
): tf.Tensor2D {
  return tf.tidy(() =>
    tf.stack([A, D ?? tf.zerosLike(A), dtBias ?? tf.zerosLike(A)], 1)
  ) as tf.Tensor2D;
}

/** Tensor inputs of {@linkcode webgpuSsd} (contiguous). */
export interface WebGpuSsdInputs {
  /** (b, l, h, p) */
  x: tf.Tensor4D;
  /** (b, l, h) raw time step (softplus(dt + dtBias) is applied). */
  dt: tf.Tensor3D;
  /** (h) negative. */
  A: tf.Tensor1D;
  /** (b, l, g, n) */
  B: tf.Tensor4D;
  /** (b, l, g, n) */
  C: tf.Tensor4D;
  /** (h) */
  D?: tf.Tensor1D;
  /** (h) */
  dtBias?: tf.Tensor1D;
  /** Clamp of Δ'. */
  dtLimit?: DtLimit;
  /** (b, h, p, n) */
  initialState?: tf.Tensor4D;
}

/**
 * The chunked SSD forward over tensors on the webgpu backend (no gradient).
 *
 * @param q the inputs.
 * @param chunk the chunk size.
 * @returns y (b, l, h, p) and the final state (b, h, p, n), new tensors.
 */
export function webgpuSsd(
  q: WebGpuSsdInputs,
  chunk: number,
): { y: tf.Tensor4D; state: tf.Tensor4D } {
  const backend = webgpuBackend();
  const [b, l, h, p] = q.x.shape;
  const [, , g, n] = q.B.shape;
  const P = packSsdParams(q.A, q.D, q.dtBias);
  const rows = (w: number): Rows => ({ stride: w, offset: 0 });
  const plan = ssdForwardPlan(backend.device, {
    b,
    l,
    h,
    p,
    g,
    n,
    chunk,
    x: rows(h * p),
    dt: rows(h),
    B: rows(g * n),
    C: rows(g * n),
    dtLimit: q.dtLimit,
    hasInit: !!q.initialState,
  });
  const y = allocate(backend, [b, l, h, p]);
  const state = allocate(backend, [b, h, p, n]);
  runPlan(backend, plan, {
    y,
    fin: state,
    x: q.x,
    dt: q.dt,
    P,
    B: q.B,
    C: q.C,
    ...(q.initialState ? { init: q.initialState } : {}),
  });
  P.dispose();
  const make = (info: tf.TensorInfo) =>
    tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
  return { y: make(y), state: make(state) };
}

/**
 * One SSD step over tensors on the webgpu backend.
 *
 * @param q x (b, h, p), dt (b, h), A, B, C (b, g, n), D, dtBias, state
 *   (b, h, p, n).
 * @returns y (b, h, p) and the new state, new tensors.
 */
export function webgpuSsdStep(q: {
  x: tf.Tensor3D;
  dt: tf.Tensor2D;
  A: tf.Tensor1D;
  B: tf.Tensor3D;
  C: tf.Tensor3D;
  D?: tf.Tensor1D;
  dtBias?: tf.Tensor1D;
  state: tf.Tensor4D;
}): { y: tf.Tensor3D; state: tf.Tensor4D } {
  const backend = webgpuBackend();
  const [b, h, p] = q.x.shape;
  const [, g, n] = q.B.shape;
  const P = packSsdParams(q.A, q.D, q.dtBias);
  const rows = (w: number): Rows => ({ stride: w, offset: 0 });
  const y = allocate(backend, [b, h, p]);
  const state = allocate(backend, [b, h, p, n]);
  dispatchLaunch(
    backend,
    ssdStepLaunch(backend.device, {
      b,
      h,
      p,
      g,
      n,
      x: rows(h * p),
      dt: rows(h),
      B: rows(g * n),
      C: rows(g * n),
    }),
    [y, state, q.x, q.dt, P, q.B, q.C, q.state],
  );
  P.dispose();
  const make = <T extends tf.Tensor>(info: tf.TensorInfo) =>
    tf.engine().makeTensorFromTensorInfo(info) as T;
  return { y: make<tf.Tensor3D>(y), state: make<tf.Tensor4D>(state) };
}

/**
 * The gated RMSNorm over tensors on the webgpu backend.
 *
 * @param y (…, d)
 * @param z (…, d), or undefined for no gate
 * @param w (d), or undefined for no weight
 * @param size channels per group.
 * @param eps added to the mean square.
 * @returns RMS(y · SiLU(z)) · w per group (RMS(y) without z and w), a new
 *   tensor.
 */
export function webgpuGatedNorm(
  y: tf.Tensor,
  z: tf.Tensor | undefined,
  w: tf.Tensor1D | undefined,
  size: number,
  eps: number,
): tf.Tensor {
  const backend = webgpuBackend();
  const d = y.shape[y.rank - 1];
  const rows = y.size / d;
  const out = allocate(backend, y.shape);
  dispatchLaunch(
    backend,
    gatedNormLaunch(backend.device, {
      rows,
      d,
      size,
      eps,
      y: { stride: d, offset: 0 },
      z: z ? { stride: d, offset: 0 } : undefined,
      hasW: !!w,
    }),
    [out, y, z ?? y, w ?? y],
  );
  return tf.engine().makeTensorFromTensorInfo(out);
}

/** Zeros (b, h, p, n) on the GPU, for a first step. */
export function ssdZeroState(shape: number[]): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(
    gpuZeros(webgpuBackend(), shape),
  );
}
