/**
 * WGSL of RMSNorm / LayerNorm over the last axis (optionally after a
 * residual add) and their backward pass: one workgroup per row, workgroup
 * tree reductions. Sizes, eps and the RMS/Layer choice are uniforms, so
 * there are three shaders in all: forward, residual forward, backward.
 *
 * Reference: Hugging Face `MambaRMSNorm`; `torch.nn.LayerNorm`;
 * state-spaces/mamba `ops/triton/layer_norm.py` (fused add + norm).
 *
 * @module
 */
import { declare } from "./_wgsl_common.ts";

/** Threads per workgroup (one workgroup per row). */
export const NORM_WORKGROUP = 128;

/** Uniform fields of the norm shaders, in order. */
export const NORM_UNIFORMS = [
  "rows",
  "d",
  "layer",
  "hasBias",
  "eps",
  "hasDs",
  "gx",
] as const;

const REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WORKGROUP}>;
fn reduce(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${NORM_WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

const HEAD = /* wgsl */ `
@compute @workgroup_size(${NORM_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) l3: vec3<u32>) {
  let row = wid.y * U.gx + wid.x;
  if (row >= U.rows) { return; }
  let lid = l3.x;
  let base = row * U.d;
  let fd = f32(U.d);
  let eps = bitcast<f32>(U.eps);
`;

/**
 * Mean (LayerNorm only, else 0) and rsqrt of the centred mean square of
 * `v(i)` over the row, in two passes.
 */
const STATS = /* wgsl */ `
  var mean = 0.0;
  if (U.layer == 1u) {
    var s = 0.0;
    for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) { s += v(base + i); }
    mean = reduce(s, lid) / fd;
  }
  var ss = 0.0;
  for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) {
    let c = v(base + i) - mean;
    ss += c * c;
  }
  let r = inverseSqrt(reduce(ss, lid) / fd + eps);
`;

/**
 * Forward: y = (v − mean) · r · w (+ bias), v = x, or v = x + res written
 * to `sum` when `residual`.
 *
 * @param residual whether a residual is added first (and the sum output).
 */
export function normForwardShader(residual: boolean): string {
  const outs = residual
    ? [{ name: "y", write: true }, { name: "sum", write: true }]
    : [{ name: "y", write: true }];
  const ins = residual ? ["x", "res", "w", "bias"] : ["x", "w", "bias"];
  return /* wgsl */ `
${
    declare([...outs, ...ins.map((name) => ({ name, write: false }))], [
      ...NORM_UNIFORMS,
    ])
  }
${REDUCE}
fn v(i: u32) -> f32 { return ${residual ? "x[i] + res[i]" : "x[i]"}; }
${HEAD}
  ${
    residual
      ? `for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) { sum[base + i] = v(base + i); }`
      : ""
  }
${STATS}
  for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) {
    var o = (v(base + i) - mean) * r * w[i];
    if (U.hasBias == 1u) { o += bias[i]; }
    y[base + i] = o;
  }
}
`;
}

/**
 * Backward: with x̂ = (x − mean)·r and ĝ = dy·w,
 * gx = r·(ĝ − mean(ĝ)·[LayerNorm] − x̂·mean(ĝ·x̂)) (+ ds when hasDs, the
 * gradient reaching the residual sum directly), and gwRow = dy·x̂ per row
 * (summed over rows by the caller for the weight gradient).
 */
export function normBackwardShader(): string {
  return /* wgsl */ `
${
    declare([
      { name: "gxo", write: true },
      { name: "gwRow", write: true },
      { name: "x", write: false },
      { name: "w", write: false },
      { name: "dy", write: false },
      { name: "ds", write: false },
    ], [...NORM_UNIFORMS])
  }
${REDUCE}
fn v(i: u32) -> f32 { return x[i]; }
${HEAD}
${STATS}
  var sg = 0.0;
  var sgx = 0.0;
  for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) {
    let g = dy[base + i] * w[i];
    sg += g;
    sgx += g * (v(base + i) - mean) * r;
  }
  var mg = 0.0;
  if (U.layer == 1u) { mg = reduce(sg, lid) / fd; }
  let mgx = reduce(sgx, lid) / fd;
  for (var i = lid; i < U.d; i += ${NORM_WORKGROUP}u) {
    let xh = (v(base + i) - mean) * r;
    let g = dy[base + i] * w[i];
    var o = r * (g - mg - xh * mgx);
    if (U.hasDs == 1u) { o += ds[base + i]; }
    gxo[base + i] = o;
    gwRow[base + i] = dy[base + i] * xh;
  }
}
`;
}
