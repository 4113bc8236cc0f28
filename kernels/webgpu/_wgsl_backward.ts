/**
 * WGSL of the backward selective scan. Nothing of the forward state
 * trajectory is stored: the forward pass keeps the state before every K-th
 * step (checkpoints), and the backward pass, per sub-chunk of K steps,
 * recomputes the K states from its checkpoint into thread-private memory and
 * then runs the reverse recurrence
 *   ĝ_t = g_{t} + gyr_t C_t,  g_{t-1} = exp(Δ'_t A) ⊙ ĝ_t
 * (gyr = ∂L/∂(C·h + D u)). Parallel over length too: a local reverse pass per
 * segment (from zero) and a reverse carry give each segment the gradient
 * arriving at its end.
 *
 * One thread per (b, d, segment) holds all N states. ∂B and ∂C sum over
 * channels: per step the workgroup's DC channels are summed in workgroup
 * memory, and the remaining sum over channel blocks (and the sums of ∂A, ∂D
 * over b and segments) are left to tfjs reductions.
 *
 * Reference: state-spaces/mamba `selective_scan_bwd_kernel.cuh`; Gu & Dao,
 * "Mamba" (2023) §3.3 (recomputation).
 *
 * @module
 */
import { type Binding, declare, MATH } from "./_wgsl_common.ts";

/** Everything baked into a backward shader. */
export interface BackwardConfig {
  N: number;
  /** Channels per workgroup. */
  DC: number;
  /** Checkpoint interval (steps recomputed at a time). */
  K: number;
  hasD: boolean;
  hasZ: boolean;
  hasBias: boolean;
  softplus: boolean;
  /** A gradient arrives at each segment's end (`ghEnd`). */
  hasGhEnd: boolean;
}

/** @returns the pipeline cache key of a backward config. */
export function backwardKey(c: BackwardConfig, local: boolean): string {
  return `mamba_bwd_${local ? "local" : "full"}_N${c.N}_DC${c.DC}_K${c.K}_` +
    `${+c.hasD}${+c.hasZ}${+c.hasBias}${+c.softplus}${+c.hasGhEnd}`;
}

/** @returns bytes of workgroup memory the full backward shader uses. */
export function backwardWorkgroupBytes(c: BackwardConfig): number {
  return 4 * (2 * c.K * c.N + 2 * c.N * (c.DC + 1));
}

/** Uniform fields of the backward shaders, in order. */
export const BACKWARD_UNIFORMS = [
  "b",
  "l",
  "dIn",
  "segLen",
  "nseg",
  "nck",
  "nblk",
];

const w = (name: string): Binding => ({ name, write: true });
const r = (name: string): Binding => ({ name, write: false });

function deltaPrime(c: BackwardConfig, N: number): string {
  return `
      let raw = dl[idx]${c.hasBias ? ` + P[dc * ${N + 2}u + ${N + 1}u]` : ""};
      let dv = ${c.softplus ? "softplus(raw)" : "raw"};`;
}

/**
 * Bindings of the full backward shader: outputs gu, gdl, [gz], gBC
 * (b, nblk, l, 2N), gAux (b, nseg, dIn, 2N+1) = [∂A partial | ∂h entering
 * the segment | ∂D partial]; inputs u, dl, P, Bm, Cm, [z], ckpt, gy, [ghEnd].
 *
 * @param c the config.
 * @returns binding list.
 */
export function backwardBindings(c: BackwardConfig): Binding[] {
  return [
    w("gu"),
    w("gdl"),
    ...(c.hasZ ? [w("gz")] : []),
    w("gBC"),
    w("gAux"),
    r("u"),
    r("dl"),
    r("P"),
    r("Bm"),
    r("Cm"),
    ...(c.hasZ ? [r("z")] : []),
    r("ckpt"),
    r("gy"),
    ...(c.hasGhEnd ? [r("ghEnd")] : []),
  ];
}

/**
 * @param c the config.
 * @returns WGSL of the full backward pass; dispatch (nblk, nseg, b).
 */
export function backwardShader(c: BackwardConfig): string {
  const { N, DC, K } = c;
  const P = N + 2;
  const R = DC + 1;
  return /* wgsl */ `
${declare(backwardBindings(c), BACKWARD_UNIFORMS)}
${MATH}
var<workgroup> sB: array<f32, ${K * N}>;
var<workgroup> sC: array<f32, ${K * N}>;
var<workgroup> sR: array<f32, ${2 * N * R}>;

@compute @workgroup_size(${DC})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let seg = wid.y;
  let blk = wid.x;
  let d = blk * ${DC}u + lid;
  let dOk = d < U.dIn;
  let dc = min(d, U.dIn - 1u);
  let t0 = seg * U.segLen;
  let t1 = min(t0 + U.segLen, U.l);
  var a: array<f32, ${N}>;
  var gh: array<f32, ${N}>;
  var gA: array<f32, ${N}>;
  var h0: array<f32, ${N}>;
  var h: array<f32, ${N}>;
  var hs: array<f32, ${K * N}>;
  for (var n = 0u; n < ${N}u; n = n + 1u) {
    a[n] = P[dc * ${P}u + n];
    gh[n] = ${
    c.hasGhEnd ? `ghEnd[((bi * U.nseg + seg) * U.dIn + dc) * ${N}u + n]` : "0.0"
  };
    gA[n] = 0.0;
  }
  let Dv = ${c.hasD ? `P[dc * ${P}u + ${N}u]` : "0.0"};
  var gDs = 0.0;
  let nsub = (t1 - t0 + ${K - 1}u) / ${K}u;
  for (var j = 0u; j < nsub; j = j + 1u) {
    let c0 = t0 + (nsub - 1u - j) * ${K}u;
    let cnt = min(${K}u, t1 - c0);
    for (var i = lid; i < ${K * N}u; i = i + ${DC}u) {
      let t = i / ${N}u;
      var bv = 0.0;
      var cv = 0.0;
      if (t < cnt) {
        let k = (bi * U.l + c0 + t) * ${N}u + i % ${N}u;
        bv = Bm[k];
        cv = Cm[k];
      }
      sB[i] = bv;
      sC[i] = cv;
    }
    workgroupBarrier();
    let cb = ((bi * U.nck + c0 / ${K}u) * U.dIn + dc) * ${N}u;
    for (var n = 0u; n < ${N}u; n = n + 1u) {
      h0[n] = ckpt[cb + n];
      h[n] = h0[n];
    }
    for (var t = 0u; t < cnt; t = t + 1u) {
      let idx = (bi * U.l + c0 + t) * U.dIn + dc;
      ${deltaPrime(c, N)}
      let du = dv * u[idx];
      for (var n = 0u; n < ${N}u; n = n + 1u) {
        h[n] = exp(dv * a[n]) * h[n] + du * sB[t * ${N}u + n];
        hs[t * ${N}u + n] = h[n];
      }
    }
    for (var jt = 0u; jt < cnt; jt = jt + 1u) {
      let t = cnt - 1u - jt;
      let idx = (bi * U.l + c0 + t) * U.dIn + dc;
      ${deltaPrime(c, N)}
      let uv = u[idx];
      let gyv = gy[idx];
      ${
    c.hasZ
      ? `
      var yr = Dv * uv;
      for (var n = 0u; n < ${N}u; n = n + 1u) {
        yr = yr + sC[t * ${N}u + n] * hs[t * ${N}u + n];
      }
      let zv = z[idx];
      let gyr = gyv * silu(zv);
      let gzv = gyv * yr * dsilu(zv);`
      : "let gyr = gyv;"
  }
      var guv = gyr * Dv;
      gDs = gDs + gyr * uv;
      var gdv = 0.0;
      for (var n = 0u; n < ${N}u; n = n + 1u) {
        var hp = h0[n];
        if (t > 0u) { hp = hs[(t - 1u) * ${N}u + n]; }
        let bn = sB[t * ${N}u + n];
        let dA = exp(dv * a[n]);
        let g = gh[n] + gyr * sC[t * ${N}u + n];
        guv = guv + g * dv * bn;
        gdv = gdv + g * (uv * bn + a[n] * dA * hp);
        gA[n] = gA[n] + g * dv * dA * hp;
        gh[n] = g * dA;
        sR[n * ${R}u + lid] = select(0.0, g * dv * uv, dOk);
        sR[(${N}u + n) * ${R}u + lid] = select(0.0, gyr * hs[t * ${N}u + n], dOk);
      }
      ${c.softplus ? "gdv = gdv * sigmoid(raw);" : ""}
      if (dOk) {
        gu[idx] = guv;
        gdl[idx] = gdv;
        ${c.hasZ ? "gz[idx] = gzv;" : ""}
      }
      workgroupBarrier();
      for (var o = lid; o < ${2 * N}u; o = o + ${DC}u) {
        var s = 0.0;
        for (var q = 0u; q < ${DC}u; q = q + 1u) { s = s + sR[o * ${R}u + q]; }
        gBC[((bi * U.nblk + blk) * U.l + c0 + t) * ${2 * N}u + o] = s;
      }
      workgroupBarrier();
    }
  }
  if (dOk) {
    let ab = ((bi * U.nseg + seg) * U.dIn + d) * ${2 * N + 1}u;
    for (var n = 0u; n < ${N}u; n = n + 1u) {
      gAux[ab + n] = gA[n];
      gAux[ab + ${N}u + n] = gh[n];
    }
    gAux[ab + ${2 * N}u] = gDs;
  }
}
`;
}

/**
 * Bindings of the local backward pass: outputs ghloc (b, nseg, dIn, N),
 * ssum (b, nseg, dIn); inputs dl, P, Cm, [z], gy.
 *
 * @param c the config.
 * @returns binding list.
 */
export function backwardLocalBindings(c: BackwardConfig): Binding[] {
  return [
    w("ghloc"),
    w("ssum"),
    r("dl"),
    r("P"),
    r("Cm"),
    ...(c.hasZ ? [r("z")] : []),
    r("gy"),
  ];
}

/**
 * Reverse recurrence of each segment from a zero gradient at its end: the
 * gradient reaching the state entering the segment, and Σ Δ' over it.
 *
 * @param c the config.
 * @returns WGSL; dispatch (nblk, nseg, b).
 */
export function backwardLocalShader(c: BackwardConfig): string {
  const { N, DC } = c;
  return /* wgsl */ `
${declare(backwardLocalBindings(c), BACKWARD_UNIFORMS)}
${MATH}
@compute @workgroup_size(${DC})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let seg = wid.y;
  let d = wid.x * ${DC}u + lid;
  if (d >= U.dIn) { return; }
  let dc = d;
  let t0 = seg * U.segLen;
  let t1 = min(t0 + U.segLen, U.l);
  var a: array<f32, ${N}>;
  var g: array<f32, ${N}>;
  for (var n = 0u; n < ${N}u; n = n + 1u) {
    a[n] = P[d * ${N + 2}u + n];
    g[n] = 0.0;
  }
  var S = 0.0;
  for (var t = t1; t > t0; t = t - 1u) {
    let idx = (bi * U.l + t - 1u) * U.dIn + d;
    ${deltaPrime(c, N)}
    let gyr = gy[idx]${c.hasZ ? " * silu(z[idx])" : ""};
    let cb = (bi * U.l + t - 1u) * ${N}u;
    for (var n = 0u; n < ${N}u; n = n + 1u) {
      g[n] = (g[n] + gyr * Cm[cb + n]) * exp(dv * a[n]);
    }
    S = S + dv;
  }
  let row = (bi * U.nseg + seg) * U.dIn + d;
  for (var n = 0u; n < ${N}u; n = n + 1u) { ghloc[row * ${N}u + n] = g[n]; }
  ssum[row] = S;
}
`;
}
