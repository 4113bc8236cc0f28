/**
 * WGSL of the forward selective scan: a segment pass (parallel over b,
 * channel blocks and length segments) and the carry pass between segments.
 *
 * Layout: a workgroup holds DC channels × NG state groups; thread (ch, g)
 * keeps KS = N / NG states of channel ch in registers. Per tile of T steps
 * the workgroup stages Δ' (bias + softplus done once), u, B and C in
 * workgroup memory, each thread runs its T recurrence steps, writes its
 * partial C·h to workgroup memory, and after a barrier the workgroup sums
 * the NG partials, adds D·u, gates with SiLU(z) and writes y coalesced.
 *
 * Modes: "full" starts each segment from its incoming state (`hin`, or zero)
 * and writes y, the final state (last segment) and optional checkpoints
 * (the state before every K-th step); "local" starts from zero and writes
 * only the segment's end state and Σ Δ' (for the carry pass).
 *
 * Reference: Gu & Dao, "Mamba" (2023) §3.3 (hardware-aware scan);
 * state-spaces/mamba `selective_scan_fwd_kernel.cuh`.
 *
 * @module
 */
import { type Binding, declare, MATH } from "./_wgsl_common.ts";

/** Everything baked into a forward shader. */
export interface ForwardConfig {
  mode: "full" | "local";
  /** State size. */
  N: number;
  /** States per thread (divides N). */
  KS: number;
  /** Channels per workgroup. */
  DC: number;
  /** Steps per staged tile. */
  T: number;
  /** Checkpoint interval in steps (a multiple of T), 0 for none. */
  K: number;
  hasD: boolean;
  hasZ: boolean;
  hasBias: boolean;
  softplus: boolean;
  /** Segments start from `hin` (b, nseg, dIn, N) rather than zero. */
  hasHin: boolean;
}

/** @returns the pipeline cache key of a forward config. */
export function forwardKey(c: ForwardConfig): string {
  return `mamba_fwd_${c.mode}_N${c.N}_KS${c.KS}_DC${c.DC}_T${c.T}_K${c.K}_` +
    `${+c.hasD}${+c.hasZ}${+c.hasBias}${+c.softplus}${+c.hasHin}`;
}

/** @returns bytes of workgroup memory a forward config uses. */
export function forwardWorkgroupBytes(c: ForwardConfig): number {
  const NG = c.N / c.KS;
  const part = c.mode === "full" && NG > 1 ? c.T * NG * c.DC : 0;
  return 4 * (2 * c.T * c.DC + 2 * c.T * c.N + part);
}

/** Uniform fields of the forward shaders, in order. */
export const FORWARD_UNIFORMS = ["b", "l", "dIn", "segLen", "nseg", "nck"];

/**
 * Storage bindings, in order: outputs then inputs.
 *
 * @param c the config.
 * @returns binding list.
 */
export function forwardBindings(c: ForwardConfig): Binding[] {
  const w = (name: string) => ({ name, write: true });
  const r = (name: string) => ({ name, write: false });
  const out = c.mode === "full"
    ? [w("y"), w("hend"), ...(c.K > 0 ? [w("ckpt")] : [])]
    : [w("hloc"), w("ssum")];
  const inp = [r("u"), r("dl"), r("P"), r("Bm")];
  if (c.mode === "full") inp.push(r("Cm"));
  if (c.mode === "full" && c.hasZ) inp.push(r("z"));
  if (c.hasHin) inp.push(r("hin"));
  return [...out, ...inp];
}

/**
 * @param c the config.
 * @returns WGSL of the segment pass; dispatch (ceil(dIn/DC), nseg, b).
 */
export function forwardShader(c: ForwardConfig): string {
  const { N, KS, DC, T, K } = c;
  const NG = N / KS;
  const full = c.mode === "full";
  const WG = DC * NG;
  const P = N + 2;
  const split = full && NG > 1;
  const ks = [...Array(KS).keys()];
  const each = (f: (k: number) => string) => ks.map(f).join("\n");
  const gate = c.hasZ ? `s = s * silu(z[idx]);` : "";
  const store = (pre: string) => `
        var s = ${pre};
        ${c.hasD ? `s = s + P[dd * ${P}u + ${N}u] * uv;` : ""}
        ${gate}
        y[idx] = s;`;
  return /* wgsl */ `
${declare(forwardBindings(c), FORWARD_UNIFORMS)}
${MATH}
var<workgroup> sU: array<f32, ${T * DC}>;
var<workgroup> sD: array<f32, ${T * DC}>;
var<workgroup> sB: array<f32, ${T * N}>;
var<workgroup> sC: array<f32, ${T * N}>;
${split ? `var<workgroup> sP: array<f32, ${T * NG * DC}>;` : ""}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let seg = wid.y;
  let d0 = wid.x * ${DC}u;
  let ch = lid % ${DC}u;
  let g = lid / ${DC}u;
  let d = d0 + ch;
  let dOk = d < U.dIn;
  let dc = min(d, U.dIn - 1u);
  let t0 = seg * U.segLen;
  let t1 = min(t0 + U.segLen, U.l);
  let n0 = g * ${KS}u;
  let Lg = U.l;
  ${full ? "" : "var dsum = 0.0;"}
${
    each((k) => `
  let a${k} = P[dc * ${P}u + n0 + ${k}u];
  var h${k} = ${
      c.hasHin
        ? `hin[((bi * U.nseg + seg) * U.dIn + dc) * ${N}u + n0 + ${k}u]`
        : "0.0"
    };`)
  }
  for (var tt = t0; tt < t1; tt = tt + ${T}u) {
    let cnt = min(${T}u, t1 - tt);
    for (var i = lid; i < ${T * DC}u; i = i + ${WG}u) {
      let t = i / ${DC}u;
      let dd = d0 + i % ${DC}u;
      var uv = 0.0;
      var dv = 0.0;
      if (t < cnt && dd < U.dIn) {
        let idx = (bi * Lg + tt + t) * U.dIn + dd;
        uv = u[idx];
        dv = dl[idx]${c.hasBias ? ` + P[dd * ${P}u + ${N + 1}u]` : ""};
        ${c.softplus ? "dv = softplus(dv);" : ""}
      }
      sU[i] = uv;
      sD[i] = dv;
    }
    for (var i = lid; i < ${T * N}u; i = i + ${WG}u) {
      let t = i / ${N}u;
      var bv = 0.0;
      var cv = 0.0;
      if (t < cnt) {
        let idx = (bi * Lg + tt + t) * ${N}u + i % ${N}u;
        bv = Bm[idx];
        ${full ? "cv = Cm[idx];" : ""}
      }
      sB[i] = bv;
      sC[i] = cv;
    }
    workgroupBarrier();
${
    full && K > 0
      ? `
    if (tt % ${K}u == 0u && dOk) {
      let cb = ((bi * U.nck + tt / ${K}u) * U.dIn + d) * ${N}u + n0;
${each((k) => `      ckpt[cb + ${k}u] = h${k};`)}
    }`
      : ""
  }
    for (var t = 0u; t < cnt; t = t + 1u) {
      let dv = sD[t * ${DC}u + ch];
      let du = dv * sU[t * ${DC}u + ch];
      let bo = t * ${N}u + n0;
${each((k) => `      h${k} = exp(dv * a${k}) * h${k} + du * sB[bo + ${k}u];`)}
${
    full
      ? `      let p = ${ks.map((k) => `h${k} * sC[bo + ${k}u]`).join(" + ")};`
      : "      dsum = dsum + dv;"
  }
${
    full && !split
      ? `
      if (dOk) {
        let dd = d;
        let idx = (bi * Lg + tt + t) * U.dIn + d;
        let uv = sU[t * ${DC}u + ch];
        ${store("p")}
      }`
      : ""
  }
${split ? `      sP[(t * ${NG}u + g) * ${DC}u + ch] = p;` : ""}
    }
${
    split
      ? `
    workgroupBarrier();
    for (var i = lid; i < ${T * DC}u; i = i + ${WG}u) {
      let t = i / ${DC}u;
      let c = i % ${DC}u;
      let dd = d0 + c;
      if (t < cnt && dd < U.dIn) {
        let idx = (bi * Lg + tt + t) * U.dIn + dd;
        let uv = sU[i];
        var acc = 0.0;
        for (var q = 0u; q < ${NG}u; q = q + 1u) {
          acc = acc + sP[(t * ${NG}u + q) * ${DC}u + c];
        }
        ${store("acc")}
      }
    }`
      : ""
  }
    workgroupBarrier();
  }
  if (dOk) {
${
    full
      ? `
    if (seg == U.nseg - 1u) {
      let hb = (bi * U.dIn + d) * ${N}u + n0;
${each((k) => `      hend[hb + ${k}u] = h${k};`)}
    }`
      : `
    let hb = ((bi * U.nseg + seg) * U.dIn + d) * ${N}u + n0;
${each((k) => `    hloc[hb + ${k}u] = h${k};`)}
    if (g == 0u) { ssum[(bi * U.nseg + seg) * U.dIn + d] = dsum; }`
  }
  }
}
`;
}

/** Uniform fields of the carry shader, in order. */
export const CARRY_UNIFORMS = ["b", "dIn", "nseg", "N"];

/**
 * Carry pass between segments, one thread per (b, d, n), serial over
 * segments: hin[s] = state entering segment s; hin[s+1] =
 * exp(A·ΣΔ'_s) hin[s] + hloc[s]. With `reverse` it runs last to first for
 * the backward pass (gradient entering each segment's end).
 *
 * @param hasInit whether `init` (b, dIn, N) seeds segment 0 (forward only).
 * @param reverse backward direction.
 * @returns WGSL; bindings hin (out), hloc, ssum, P, [init]; dispatch
 *   (ceil(b·dIn·N / 64), 1, 1).
 */
export function carryShader(hasInit: boolean, reverse: boolean): string {
  const b: Binding[] = [
    { name: "hin", write: true },
    { name: "hloc", write: false },
    { name: "ssum", write: false },
    { name: "P", write: false },
  ];
  if (hasInit) b.push({ name: "init", write: false });
  return /* wgsl */ `
${declare(b, CARRY_UNIFORMS)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= U.b * U.dIn * U.N) { return; }
  let n = i % U.N;
  let d = (i / U.N) % U.dIn;
  let bi = i / (U.N * U.dIn);
  let a = P[d * (U.N + 2u) + n];
  var h = ${hasInit ? "init[i]" : "0.0"};
  for (var j = 0u; j < U.nseg; j = j + 1u) {
    let s = ${reverse ? "U.nseg - 1u - j" : "j"};
    let row = (bi * U.nseg + s) * U.dIn + d;
    hin[row * U.N + n] = h;
    h = exp(a * ssum[row]) * h + hloc[row * U.N + n];
  }
}
`;
}
