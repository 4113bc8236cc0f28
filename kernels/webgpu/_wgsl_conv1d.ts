/**
 * WGSL of the fused causal depthwise conv1d + bias + SiLU (Mamba's short
 * conv over time) and its two backward passes. Every shape and flag is a
 * uniform, so each shader compiles once whatever the sizes.
 *
 * Layouts: x is read from a (b, l, W) buffer at channels [off, off + dIn)
 * (W = 2·dIn, off = 0 when x is the first half of in_proj's output), the
 * history is (b, k-1, dIn), the weight (dIn, 1, k), the bias (dIn). "Padded"
 * time s ∈ [0, l+k-1) indexes concat(history, x): output t reads s = t..t+k-1.
 *
 * Reference: state-spaces/causal-conv1d `causal_conv1d_fwd` /
 * `causal_conv1d_bwd` (with `silu_activation=True`).
 *
 * @module
 */
import { declare, MATH } from "./_wgsl_common.ts";

/** Threads per workgroup of every conv shader. */
export const CONV_WORKGROUP = 256;
/** Largest conv width k the shaders accept (private arrays are this long). */
export const MAX_CONV_K = 8;

/** Uniform fields shared by the three shaders, in order. */
export const CONV_UNIFORMS = [
  "b",
  "l",
  "dIn",
  "k",
  "W",
  "off",
  "hasBias",
  "hasHist",
  "hasDh",
  "rowsPerChunk",
  "gx",
] as const;

const COMMON = /* wgsl */ `
${MATH}
fn xpad(bi: u32, s: u32, c: u32) -> f32 {
  let h = U.k - 1u;
  if (s < h) {
    if (U.hasHist == 0u) { return 0.0; }
    return hist[(bi * h + s) * U.dIn + c];
  }
  return x[(bi * U.l + s - h) * U.W + U.off + c];
}
fn preact(bi: u32, t: u32, c: u32) -> f32 {
  var acc = 0.0;
  if (U.hasBias == 1u) { acc = bias[c]; }
  for (var j = 0u; j < U.k; j++) {
    acc += w[c * U.k + j] * xpad(bi, t + j, c);
  }
  return acc;
}
fn flat(wid: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.y * U.gx + wid.x) * ${CONV_WORKGROUP}u + lid.x;
}
`;

const uniforms = [...CONV_UNIFORMS];

/**
 * One conv shader: the storage bindings (`outputs`, then x, hist, w, bias,
 * then `inputs`), the uniforms, the shared functions, `helpers`, and a
 * `main` whose `body` sees the thread's flat index `i`.
 */
function convShader(
  outputs: string[],
  inputs: string[],
  body: string,
  helpers = "",
): string {
  const bindings = [
    ...outputs.map((name) => ({ name, write: true })),
    ...["x", "hist", "w", "bias", ...inputs].map((name) => ({
      name,
      write: false,
    })),
  ];
  return /* wgsl */ `
${declare(bindings, uniforms)}
${COMMON}${helpers}
@compute @workgroup_size(${CONV_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat(wid, lid);${body}}
`;
}

/**
 * Forward: u = SiLU(bias + Σ_j w[c, j] · xpad[t + j]) (b, l, dIn) and the
 * new history xpad[l .. l+k-2] (b, k-1, dIn), one thread per element.
 */
export function convForwardShader(): string {
  return convShader(
    ["u", "hout"],
    [],
    /* wgsl */ `
  let nu = U.b * U.l * U.dIn;
  let h = U.k - 1u;
  if (i < nu) {
    let c = i % U.dIn;
    let t = (i / U.dIn) % U.l;
    let bi = i / (U.dIn * U.l);
    u[i] = silu(preact(bi, t, c));
  } else if (i < nu + U.b * h * U.dIn) {
    let o = i - nu;
    let c = o % U.dIn;
    let s = (o / U.dIn) % h;
    let bi = o / (U.dIn * h);
    hout[o] = xpad(bi, U.l + s, c);
  }
`,
  );
}

/**
 * Backward to the inputs: for every padded time s, gpad[s] = dh[s - l]
 * (when s ≥ l) + Σ_j w[c, j] · g[s - j], g = du · SiLU'(pre). Writes gx at
 * the full width W of x's buffer (zeros outside [off, off + dIn)) and the
 * history gradient (b, k-1, dIn).
 */
export function convBackwardShader(): string {
  const gpad = /* wgsl */ `
fn gpad(bi: u32, s: u32, c: u32) -> f32 {
  var acc = 0.0;
  if (U.hasDh == 1u && s >= U.l) {
    acc = dh[(bi * (U.k - 1u) + s - U.l) * U.dIn + c];
  }
  for (var j = 0u; j < U.k; j++) {
    if (s >= j && s - j < U.l) {
      let t = s - j;
      let g = du[(bi * U.l + t) * U.dIn + c] * dsilu(preact(bi, t, c));
      acc += w[c * U.k + j] * g;
    }
  }
  return acc;
}`;
  return convShader(
    ["gx", "gh"],
    ["du", "dh"],
    /* wgsl */ `
  let nx = U.b * U.l * U.W;
  let h = U.k - 1u;
  if (i < nx) {
    let cc = i % U.W;
    let t = (i / U.W) % U.l;
    let bi = i / (U.W * U.l);
    if (cc < U.off || cc >= U.off + U.dIn) {
      gx[i] = 0.0;
    } else {
      gx[i] = gpad(bi, t + h, cc - U.off);
    }
  } else if (i < nx + U.b * h * U.dIn) {
    let o = i - nx;
    let c = o % U.dIn;
    let s = (o / U.dIn) % h;
    let bi = o / (U.dIn * h);
    gh[o] = gpad(bi, s, c);
  }
`,
    gpad,
  );
}

/**
 * Backward to the weight and bias, partial sums: thread (chunk, c) sums
 * g · xpad[t + j] (j < k) and g (the bias, slot k) over rowsPerChunk rows of
 * the flattened (b·l) time axis into part (nchunk, dIn, k+1).
 */
export function convWeightGradShader(): string {
  return convShader(
    ["part"],
    ["du"],
    /* wgsl */ `
  let rows = U.b * U.l;
  let nchunk = (rows + U.rowsPerChunk - 1u) / U.rowsPerChunk;
  if (i >= nchunk * U.dIn) { return; }
  let c = i % U.dIn;
  let chunk = i / U.dIn;
  var acc: array<f32, ${MAX_CONV_K + 1}>;
  for (var j = 0u; j <= U.k; j++) { acc[j] = 0.0; }
  let r1 = min(rows, (chunk + 1u) * U.rowsPerChunk);
  for (var r = chunk * U.rowsPerChunk; r < r1; r++) {
    let bi = r / U.l;
    let t = r % U.l;
    let g = du[r * U.dIn + c] * dsilu(preact(bi, t, c));
    for (var j = 0u; j < U.k; j++) { acc[j] += g * xpad(bi, t + j, c); }
    acc[U.k] += g;
  }
  for (var j = 0u; j <= U.k; j++) { part[(i * (U.k + 1u)) + j] = acc[j]; }
`,
  );
}
