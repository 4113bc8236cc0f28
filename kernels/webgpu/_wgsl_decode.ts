/**
 * WGSL of the GPU-resident decode step: one token for up to BMAX sequences,
 * every buffer created once, no readback inside a step.
 *
 * Per Mamba layer four dispatches: in_proj (the block's norm fused in front,
 * the causal-conv update and SiLU fused behind, for the x half), x_proj,
 * the scan step (dt_proj, softplus, state update, D skip, SiLU(z) gate), and
 * out_proj (added onto the residual stream). Each needs all of the previous
 * one's output, so fewer would take a grid-wide barrier. Around them: the embedding
 * gather, top-level norms, the LM head and the sampler, which writes the next
 * token where the next step's embedding gather reads it.
 *
 * The matrix-vector kernel gives each output row a group of 32–256 lanes
 * that read the row's weights coalesced (vec4 when the width allows) and
 * multiply them with every sequence's input, so the weights are read once per
 * step whatever the batch. The group is as wide as keeps each lane to a few
 * loads and the GPU busy with the rows there are ({@linkcode matvecLanes}):
 * these kernels are bound by latency, not bandwidth.
 *
 * Glossary: `b` sequence slot, `d` model width, `dIn` inner width, `n` state
 * size, `r` dt rank, `kc` conv width, `v` padded vocab.
 *
 * Reference: state-spaces/mamba `Mamba.step` (modules/mamba_simple.py);
 * Hugging Face `generation/logits_process.py` (sampling filters).
 *
 * @module
 */
import { MATH } from "./_wgsl_common.ts";

/** Threads of every decode workgroup. */
export const ROW_THREADS = 256;
/** Workgroups below which a matvec widens its rows' lane groups. */
const BUSY_GROUPS = 264;

/** Normalisation of a row: none, RMSNorm, or LayerNorm (with or without bias). */
export interface NormSpec {
  kind: "rms_norm" | "layer_norm";
  eps: number;
  bias: boolean;
}

/** Everything baked into one matrix-vector shader. */
export interface MatvecConfig {
  /** Input width (the weight's columns). */
  k: number;
  /** Output rows (the weight's rows). */
  nOut: number;
  /** Row stride of the input buffer, in floats. */
  xStride: number;
  /** Sequence slots. */
  bmax: number;
  /** Normalise each input row first. */
  norm?: NormSpec;
  /** Add a bias per output row. */
  bias: boolean;
  /**
   * "store" y = W·x; "accumulate" y += W·x (the residual stream);
   * "conv" the Mamba in_proj: rows < nOut/2 go through the conv update and
   * SiLU (state in `cs`), the others are stored (z).
   */
  epilogue: "store" | "accumulate" | "conv";
  /** Conv width (epilogue "conv"). */
  kc?: number;
  /** Conv bias (epilogue "conv"). */
  convBias?: boolean;
  /** Lanes per output row (a power of two in [32, 256]); default {@linkcode matvecLanes}. */
  lanes?: number;
}

/**
 * Lanes per output row: enough that each lane loads at most eight weight
 * vectors, widened while fewer than {@linkcode BUSY_GROUPS} workgroups would
 * run, but never past one load per lane (idle lanes still pay every barrier,
 * which a software adapter runs thread by thread). Eight, not four: on the
 * H200 a 768-wide row (the 130m in_proj and LM head, six loads at 32 lanes)
 * ran 25–45% slower at 64 lanes, since twice the workgroups each repeat the
 * input's norm (BENCHMARKS.md, decode profile).
 *
 * @param c the config.
 * @returns a power of two in [32, 256].
 */
export function matvecLanes(c: MatvecConfig): number {
  if (c.lanes !== undefined) return c.lanes;
  const loads = c.k / (c.k % 4 === 0 && c.xStride % 4 === 0 ? 4 : 1);
  let lanes = 32;
  while (lanes < ROW_THREADS && loads / lanes > 8) lanes *= 2;
  while (
    lanes < ROW_THREADS && 2 * lanes <= loads &&
    c.nOut / (ROW_THREADS / lanes) < BUSY_GROUPS
  ) lanes *= 2;
  return lanes;
}

/**
 * @param c the config.
 * @returns the workgroups of one dispatch.
 */
export function matvecGroups(c: MatvecConfig): number {
  return Math.ceil(c.nOut / (ROW_THREADS / matvecLanes(c)));
}

/** @returns the pipeline cache key of a matvec config. */
export function matvecKey(c: MatvecConfig): string {
  const n = c.norm ? `${c.norm.kind}${c.norm.eps}${+c.norm.bias}` : "none";
  return `decode_mv_k${c.k}_o${c.nOut}_s${c.xStride}_b${c.bmax}_${n}_` +
    `${+c.bias}_${c.epilogue}_${c.kc ?? 0}${+(c.convBias ?? false)}_` +
    `l${matvecLanes(c)}`;
}

/**
 * Binding order of a matvec shader: y, w, x, params, then (in this order,
 * each only when used) norm weight, norm bias, bias, conv state, conv weight,
 * conv bias.
 *
 * @param c the config.
 * @returns the names, in binding order.
 */
export function matvecBindings(c: MatvecConfig): string[] {
  const names = ["y", "w", "x", "params"];
  if (c.norm) names.push("gn");
  if (c.norm?.bias) names.push("bn");
  if (c.bias) names.push("bias");
  if (c.epilogue === "conv") names.push("cs", "cw");
  if (c.epilogue === "conv" && c.convBias) names.push("cb");
  return names;
}

const f32 = (x: number) => {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
};

/** Declares bindings in order; `params` is the uniform, others storage. */
function bind(names: string[], types: Record<string, string>): string {
  return names.map((name, i) => {
    if (name === "params") {
      return `@group(0) @binding(${i}) var<uniform> params: Params;`;
    }
    const [access, type] = (types[name] ?? "read array<f32>").split(" ");
    return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: ${type};`;
  }).join("\n");
}

const PARAMS = `struct Params { batch: u32, step: u32, p2: u32, p3: u32 };`;

/**
 * Statistics of each slot's input row (mean and reciprocal std), computed by
 * the whole workgroup into `stat` (WGSL, inside `main`).
 */
function rowStats(
  c: { k: number; xStride: number; bmax: number },
  norm: NormSpec,
  threads: number,
  load: (index: string) => string,
): string {
  const { k, xStride } = c;
  const slots = `${c.bmax}u`;
  const pass = (what: string, value: string) => `
  for (var b = 0u; b < ${slots}; b++) {
    var s = 0.0;
    if (b < params.batch) {
      for (var i = lid; i < ${k}u; i += ${threads}u) {
        let v = ${load(`b * ${xStride}u + i`)};
        s += ${value};
      }
    }
    red[b * ${threads}u + lid] = s;
  }
  workgroupBarrier();
  for (var w = ${threads / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) {
      for (var b = 0u; b < ${slots}; b++) {
        red[b * ${threads}u + lid] += red[b * ${threads}u + lid + w];
      }
    }
    workgroupBarrier();
  }
  if (lid < ${slots}) { ${what} }
  workgroupBarrier();`;
  if (norm.kind === "rms_norm") {
    return pass(
      `stat[lid * 2u] = 0.0; stat[lid * 2u + 1u] = inverseSqrt(red[lid * ${threads}u] / ${
        f32(k)
      } + ${f32(norm.eps)});`,
      "v * v",
    );
  }
  return pass(
    `stat[lid * 2u] = red[lid * ${threads}u] / ${f32(k)};`,
    "v",
  ) + pass(
    `stat[lid * 2u + 1u] = inverseSqrt(red[lid * ${threads}u] / ${f32(k)} + ${
      f32(norm.eps)
    });`,
    "(v - stat[b * 2u]) * (v - stat[b * 2u])",
  );
}

/**
 * @param c the config.
 * @returns the WGSL of y (b, nOut) (+)= W (nOut, k) · norm(x) (b, k) + bias,
 *   {@linkcode matvecLanes} lanes per row, {@linkcode ROW_THREADS} threads
 *   per workgroup.
 */
export function matvecWgsl(c: MatvecConfig): string {
  const vec = c.k % 4 === 0 && c.xStride % 4 === 0 ? 4 : 1;
  const T = vec === 4 ? "vec4<f32>" : "f32";
  const kv = c.k / vec;
  const xs = c.xStride / vec;
  const threads = ROW_THREADS;
  const lanes = matvecLanes(c);
  const rows = threads / lanes;
  const dot = vec === 4 ? "dot(wv, xn)" : "wv * xn";
  const names = matvecBindings(c);
  const types: Record<string, string> = {
    y: "read_write array<f32>",
    w: `read array<${T}>`,
    x: `read array<${T}>`,
    gn: `read array<${T}>`,
    bn: `read array<${T}>`,
    cs: "read_write array<f32>",
  };
  // RMSNorm: W·(x·r·g) = r·((W∘g)·x), so the norm weight scales the weight
  // once per column and the 1/rms scales the sum once per row.
  const rms = c.norm?.kind === "rms_norm";
  const normed = !c.norm || rms
    ? "xv"
    : `(xv - stat[b * 2u]) * stat[b * 2u + 1u] * gn[j]${
      c.norm.bias ? " + bn[j]" : ""
    }`;
  // Statistics read the input as scalars: a second, f32 view is not
  // possible on one binding, so they index components of the vector.
  const stats = c.norm
    ? rowStats(
      { k: c.k, xStride: c.xStride, bmax: c.bmax },
      c.norm,
      threads,
      (i) => vec === 4 ? `x[(${i}) / 4u][(${i}) % 4u]` : `x[${i}]`,
    )
    : "";
  const half = c.nOut / 2;
  const kc = c.kc ?? 0;
  const epilogue = c.epilogue === "store"
    ? "y[b * NOUT + row] = v;"
    : c.epilogue === "accumulate"
    ? "y[b * NOUT + row] += v;"
    : `if (row < ${half}u) {
        var pre = ${c.convBias ? "cb[row]" : "0.0"} + cw[row * ${kc}u + ${
      kc - 1
    }u] * v;
        let base = b * ${(kc - 1) * half}u + row;
        for (var j = 0u; j < ${kc - 1}u; j++) {
          let old = cs[base + j * ${half}u];
          pre += cw[row * ${kc}u + j] * old;
          if (j > 0u) { cs[base + (j - 1u) * ${half}u] = old; }
        }
        cs[base + ${kc - 2}u * ${half}u] = v;
        y[b * NOUT + row] = silu(pre);
      } else {
        y[b * NOUT + row] = v;
      }`;
  return /* wgsl */ `
${PARAMS}
${bind(names, types)}
${MATH}
const NOUT = ${c.nOut}u;
const KV = ${kv}u;
const XS = ${xs}u;
const BMAX = ${c.bmax}u;
var<workgroup> red: array<f32, ${threads * c.bmax}>;
var<workgroup> stat: array<f32, ${2 * c.bmax}>;

@compute @workgroup_size(${threads})
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wg: vec3<u32>) {
  ${stats}
  let lane = lid % ${lanes}u;
  let row = wg.x * ${rows}u + lid / ${lanes}u;
  var acc: array<f32, ${c.bmax}>;
  for (var b = 0u; b < BMAX; b++) { acc[b] = 0.0; }
  if (row < NOUT) {
    for (var j = lane; j < KV; j += ${lanes}u) {
      let wv = w[row * KV + j]${rms ? " * gn[j]" : ""};
      for (var b = 0u; b < BMAX; b++) {
        if (b < params.batch) {
          let xv = x[b * XS + j];
          let xn = ${normed};
          acc[b] += ${dot};
        }
      }
    }
  }
  // Tree sum over each row's lanes; slot-major so lanes hit distinct banks.
  for (var b = 0u; b < BMAX; b++) { red[b * ${threads}u + lid] = acc[b]; }
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var b = 0u; b < BMAX; b++) {
        red[b * ${threads}u + lid] += red[b * ${threads}u + lid + s];
      }
    }
    workgroupBarrier();
  }
  let b = lane;
  if (row < NOUT && b < params.batch) {
    var v = red[b * ${threads}u + lid - lane];
    ${rms ? "v *= stat[b * 2u + 1u];" : ""}
    ${c.bias ? "v += bias[row];" : ""}
    ${epilogue}
  }
}
`;
}

/** Sizes baked into the scan-step shader. */
export interface ScanStepConfig {
  dIn: number;
  n: number;
  r: number;
  /** Lanes per (slot, channel), a power of two ≤ 32; default {@linkcode scanStepLanes}. */
  lanes?: number;
}

/**
 * Lanes per channel of the scan step: the state size rounded up to a power
 * of two, at most 32.
 *
 * @param n state size.
 * @returns lanes per (slot, channel).
 */
export function scanStepLanes(n: number): number {
  let lanes = 1;
  while (lanes < n && lanes < 32) lanes *= 2;
  return lanes;
}

/**
 * @param c sizes.
 * @returns the WGSL of the fused step, {@linkcode scanStepLanes} lanes per
 *   (slot, channel), each lane a share of the dt_proj row and of the states:
 *   Δ = softplus(dt_proj·dt + bias); h = e^{ΔA}·h + Δ·B·u; y = C·h + D·u;
 *   out = y · SiLU(z). Bindings: out, ssm, uz, dbc, dtW, dtB, A, D, params.
 *   (Computing x_proj here too, each workgroup for its slot, saved a
 *   dispatch but made the step 3.5× slower on the H200: 480 dependent loads
 *   per thread. BENCHMARKS.md.)
 */
export function scanStepWgsl(c: ScanStepConfig): string {
  const { dIn, n, r } = c;
  const nr = r + 2 * n;
  const S = c.lanes ?? scanStepLanes(n);
  const channels = ROW_THREADS / S;
  return /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> ssm: array<f32>;
@group(0) @binding(2) var<storage, read> uz: array<f32>;
@group(0) @binding(3) var<storage, read> dbc: array<f32>;
@group(0) @binding(4) var<storage, read> dtW: array<f32>;
@group(0) @binding(5) var<storage, read> dtB: array<f32>;
@group(0) @binding(6) var<storage, read> A: array<f32>;
@group(0) @binding(7) var<storage, read> Dp: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
${MATH}
${
    S > 1
      ? `var<workgroup> red: array<f32, ${ROW_THREADS}>;

// Sums red over each channel's ${S} lanes; every thread gets its channel's sum.
fn channelSum(lid: u32, lane: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = ${S >> 1}u; w > 0u; w >>= 1u) {
    if (lane < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();
  return total;
}`
      : ""
  }

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = lid % ${S}u;
  let i = wg.x * ${channels}u + lid / ${S}u;
  let live = i < params.batch * ${dIn}u;
  let b = select(0u, i / ${dIn}u, live);
  let d = i % ${dIn}u;
  var part = 0.0;
  if (live) {
    for (var j = lane; j < ${r}u; j += ${S}u) {
      part += dtW[d * ${r}u + j] * dbc[b * ${nr}u + j];
    }
  }
  let dt = softplus(${S > 1 ? "channelSum(lid, lane, part)" : "part"} + dtB[d]);
  let u = uz[b * ${2 * dIn}u + d];
  var y = 0.0;
  if (live) {
    for (var s = lane; s < ${n}u; s += ${S}u) {
      let at = (b * ${dIn}u + d) * ${n}u + s;
      let h = exp(dt * A[d * ${n}u + s]) * ssm[at] +
        dt * dbc[b * ${nr}u + ${r}u + s] * u;
      ssm[at] = h;
      y += h * dbc[b * ${nr}u + ${r + n}u + s];
    }
  }
  ${S > 1 ? "y = channelSum(lid, lane, y);" : ""}
  if (live && lane == 0u) {
    let z = uz[b * ${2 * dIn}u + ${dIn}u + d];
    out[b * ${dIn}u + d] = (y + Dp[d] * u) * silu(z);
  }
}
`;
}

/**
 * @param d model width.
 * @returns the WGSL of h[b] = E[token[b]] (bindings h, E, token, params).
 */
export function embedWgsl(d: number): string {
  return /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read_write> h: array<f32>;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> token: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.batch * ${d}u) { return; }
  let b = i / ${d}u;
  h[i] = E[token[b] * ${d}u + i % ${d}u];
}
`;
}

/**
 * @param d row width.
 * @param bmax sequence slots.
 * @param norm the norm.
 * @returns the WGSL of an in-place norm of each slot's row, one workgroup
 *   (bindings h, params, g[, beta]).
 */
export function normWgsl(d: number, bmax: number, norm: NormSpec): string {
  const names = ["h", "params", "g", ...(norm.bias ? ["beta"] : [])];
  const stats = rowStats(
    { k: d, xStride: d, bmax },
    norm,
    ROW_THREADS,
    (i) => `h[${i}]`,
  );
  const value = norm.kind === "rms_norm"
    ? "h[at] * stat[b * 2u + 1u] * g[i]"
    : `(h[at] - stat[b * 2u]) * stat[b * 2u + 1u] * g[i]${
      norm.bias ? " + beta[i]" : ""
    }`;
  return /* wgsl */ `
${PARAMS}
${bind(names, { h: "read_write array<f32>" })}
var<workgroup> red: array<f32, ${ROW_THREADS * bmax}>;
var<workgroup> stat: array<f32, ${2 * bmax}>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(local_invocation_index) lid: u32) {
  ${stats}
  for (var b = 0u; b < params.batch; b++) {
    for (var i = lid; i < ${d}u; i += ${ROW_THREADS}u) {
      let at = b * ${d}u + i;
      h[at] = ${value};
    }
  }
}
`;
}

/** Sizes baked into the sampler. */
export interface SamplerConfig {
  /** Tokens that may be chosen (the first `vocab` logits). */
  vocab: number;
  /** Row stride of the logits (padded vocab). */
  stride: number;
  /** Sequence slots (row stride of the output tokens). */
  bmax: number;
}

/** u32 fields per slot in the sampler's settings buffer. */
export const SAMPLER_FIELDS = 8;

/**
 * @param c sizes.
 * @returns the WGSL of the next-token choice, one workgroup per slot.
 *   Per slot settings (u32 words, floats bitcast): greedy, temperature,
 *   topK, topP, minP, repetition penalty. Order as the CPU sampler
 *   (`infer/sampling.ts`): penalty on seen tokens, temperature, top-k and
 *   top-p thresholds (found bit by bit on the float bits of the
 *   probabilities: exact k-th largest, ties kept), min-p, then the first
 *   token whose cumulative kept mass exceeds u · kept mass, with u from the
 *   slot's SplitMix32 stream (the CPU `Rng`). Bindings: tokens (steps, bmax),
 *   current (bmax), rng (bmax), seen (bmax, words), logits, settings, scratch
 *   (bmax, stride), params, stepIndex.
 */
export function samplerWgsl(c: SamplerConfig): string {
  const { vocab: v, stride, bmax } = c;
  const words = Math.ceil(v / 32);
  const T = ROW_THREADS;
  const chunk = Math.ceil(v / T);
  return /* wgsl */ `
${PARAMS}
struct Step { index: u32, a: u32, b: u32, c: u32 };
@group(0) @binding(0) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(1) var<storage, read_write> current: array<u32>;
@group(0) @binding(2) var<storage, read_write> rng: array<u32>;
@group(0) @binding(3) var<storage, read_write> seen: array<u32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> settings: array<u32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> stepIndex: Step;
var<workgroup> rf: array<f32, ${T}>;
var<workgroup> ri: array<u32, ${T}>;
var<workgroup> bcast: array<u32, 4>;

fn penalised(b: u32, i: u32, pen: f32) -> f32 {
  let x = logits[b * ${stride}u + i];
  if (pen == 1.0 || (seen[b * ${words}u + i / 32u] & (1u << (i % 32u))) == 0u) {
    return x;
  }
  return select(x * pen, x / pen, x > 0.0);
}

// Sum of rf over the workgroup, left in rf[0] (every thread must call it).
fn sumF(lid: u32) {
  workgroupBarrier();
  for (var w = ${T / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) { rf[lid] += rf[lid + w]; }
    workgroupBarrier();
  }
}
fn sumU(lid: u32) {
  workgroupBarrier();
  for (var w = ${T / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) { ri[lid] += ri[lid + w]; }
    workgroupBarrier();
  }
}

@compute @workgroup_size(${T})
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wg: vec3<u32>) {
  let b = wg.x;
  if (b >= params.batch) { return; }
  let cfg = b * ${SAMPLER_FIELDS}u;
  let greedy = settings[cfg] != 0u;
  let temperature = bitcast<f32>(settings[cfg + 1u]);
  let topK = settings[cfg + 2u];
  let topP = bitcast<f32>(settings[cfg + 3u]);
  let minP = bitcast<f32>(settings[cfg + 4u]);
  let pen = bitcast<f32>(settings[cfg + 5u]);

  // Largest value, lowest index on ties (torch.argmax).
  var best = -3.4e38;
  var bestI = 0xffffffffu;
  for (var i = lid; i < ${v}u; i += ${T}u) {
    let x = penalised(b, i, pen);
    if (x > best || bestI == 0xffffffffu) { best = x; bestI = i; }
  }
  rf[lid] = best;
  ri[lid] = bestI;
  workgroupBarrier();
  for (var w = ${T / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) {
      let x = rf[lid + w];
      let j = ri[lid + w];
      if (j != 0xffffffffu && (ri[lid] == 0xffffffffu || x > rf[lid] ||
          (x == rf[lid] && j < ri[lid]))) {
        rf[lid] = x;
        ri[lid] = j;
      }
    }
    workgroupBarrier();
  }
  let top = rf[0];
  var token = ri[0];
  workgroupBarrier();

  if (!greedy) {
    // e_i = exp((x_i - max) / T): the unnormalised probabilities.
    var local = 0.0;
    for (var i = lid; i < ${v}u; i += ${T}u) {
      let e = exp((penalised(b, i, pen) - top) / temperature);
      scratch[b * ${stride}u + i] = e;
      local += e;
    }
    rf[lid] = local;
    sumF(lid);
    let total = rf[0];
    workgroupBarrier();
    // Thresholds on the float bits of e (positive floats order as u32).
    var thr = 0u;
    if (topK > 0u && topK < ${v}u) {
      var ans = 0u;
      for (var bit = 31; bit >= 0; bit--) {
        let cand = ans | (1u << u32(bit));
        var count = 0u;
        for (var i = lid; i < ${v}u; i += ${T}u) {
          count += select(0u, 1u, bitcast<u32>(scratch[b * ${stride}u + i]) >= cand);
        }
        ri[lid] = count;
        sumU(lid);
        if (ri[0] >= topK) { ans = cand; }
        workgroupBarrier();
      }
      thr = ans;
    }
    if (topP < 1.0) {
      var ans = 0u;
      for (var bit = 31; bit >= 0; bit--) {
        let cand = ans | (1u << u32(bit));
        var mass = 0.0;
        for (var i = lid; i < ${v}u; i += ${T}u) {
          let e = scratch[b * ${stride}u + i];
          mass += select(0.0, e, bitcast<u32>(e) >= cand);
        }
        rf[lid] = mass;
        sumF(lid);
        if (rf[0] >= topP * total) { ans = cand; }
        workgroupBarrier();
      }
      thr = max(thr, ans);
    }
    // Kept mass per contiguous block of ${chunk} tokens, then a scan.
    let start = lid * ${chunk}u;
    let end = min(start + ${chunk}u, ${v}u);
    var kept = 0.0;
    var lastKept = 0xffffffffu;
    for (var i = start; i < end; i++) {
      let e = scratch[b * ${stride}u + i];
      if (bitcast<u32>(e) >= thr && e >= minP) { kept += e; lastKept = i; }
    }
    rf[lid] = kept;
    ri[lid] = select(0u, lastKept + 1u, lastKept != 0xffffffffu);
    workgroupBarrier();
    for (var w = 1u; w < ${T}u; w <<= 1u) {
      let src = select(lid, lid - w, lid >= w);
      let add = select(0.0, rf[src], lid >= w);
      let m = select(0u, ri[src], lid >= w);
      workgroupBarrier();
      rf[lid] += add;
      ri[lid] = max(ri[lid], m);
      workgroupBarrier();
    }
    let keptTotal = rf[${T - 1}u];
    let lastAll = ri[${T - 1}u] - 1u;
    // SplitMix32, as the CPU Rng: one draw per sampled token.
    if (lid == 0u) {
      let s = rng[b] + 0x9e3779b9u;
      rng[b] = s;
      var zz = s;
      zz = (zz ^ (zz >> 16u)) * 0x85ebca6bu;
      zz = (zz ^ (zz >> 13u)) * 0xc2b2ae35u;
      bcast[0] = zz ^ (zz >> 16u);
      bcast[1] = lastAll;
    }
    workgroupBarrier();
    let u = f32(bcast[0] >> 8u) / 16777216.0;
    let goal = u * keptTotal;
    let before = rf[lid] - kept;
    if (kept > 0.0 && goal >= before && goal < before + kept) {
      var cum = before;
      var chosen = lastKept;
      for (var i = start; i < end; i++) {
        let e = scratch[b * ${stride}u + i];
        if (bitcast<u32>(e) >= thr && e >= minP) {
          cum += e;
          if (goal < cum) { chosen = i; break; }
        }
      }
      bcast[2] = chosen;
      bcast[3] = 1u;
    }
    workgroupBarrier();
    token = select(bcast[1], bcast[2], bcast[3] == 1u);
  }
  if (lid == 0u) {
    tokens[stepIndex.index * ${bmax}u + b] = token;
    current[b] = token;
    seen[b * ${words}u + token / 32u] |= 1u << (token % 32u);
  }
}
`;
}
