/**
 * WGSL of the backward selective scan, the same chunked layout as the
 * forward (`_wgsl_forward.ts`): a workgroup owns DC channels of one batch
 * row over a length segment and walks its chunks of L = S·m steps last to
 * first; thread (c, s) owns channel c and the s-th run of m steps.
 *
 * Per chunk: (A) each run's forward end state from zero and (B) its reverse
 * gradient from zero, both with all N states in registers; (C) one thread
 * per (channel, state) chains the runs in workgroup memory, forward from the
 * checkpoint at the chunk start and backward from the gradient arriving at
 * the chunk end; (D) per state n, each thread recomputes its m states and
 * runs the reverse recurrence
 *   G_t = g_t + gyr_t C_t,  g_{t-1} = exp(Δ'_t A) G_t
 * in registers (m is unrolled, nothing indexed at run time), accumulating
 * ∂u, ∂Δ, ∂A, ∂D, ∂bias; ∂B and ∂C are summed over the DC channels in
 * workgroup memory (two barriers per state) and written as per-block
 * partials, reduced by {@linkcode reduceBCShader}.
 *
 * Reference: state-spaces/mamba `selective_scan_bwd_kernel.cuh` (the loop
 * over states with the time items in registers); Gu & Dao, "Mamba" (2023)
 * §3.3 (recomputation).
 *
 * @module
 */
import {
  type Binding,
  chainRuns,
  declare,
  loadRow,
  localFinish,
  LOG2E,
  MATH,
  SEGMENT_UNIFORMS,
  segmentMain,
  unroll,
} from "./_wgsl_common.ts";

/** Everything baked into a backward shader. */
export interface BackwardConfig {
  mode: "full" | "local";
  N: number;
  /** Channels per workgroup. */
  DC: number;
  /** Runs per chunk. */
  S: number;
  /** Steps per run (unrolled in the per-state loop). */
  m: number;
  hasZ: boolean;
}

/** @returns the pipeline cache key of a backward config. */
export function backwardKey(c: BackwardConfig): string {
  return `mamba_bwd2_${c.mode}_N${c.N}_DC${c.DC}_S${c.S}_m${c.m}_${+c.hasZ}`;
}

/** @returns bytes of workgroup memory a backward config uses. */
export function backwardWorkgroupBytes(c: BackwardConfig): number {
  const WG = c.DC * c.S;
  const L = c.S * c.m;
  const red = c.mode === "full" ? 2 * L * (c.DC + 1) + WG : 0;
  return 4 * (2 * WG * c.N + WG + 3 * c.DC * c.N + red);
}

/** Uniform fields of the backward shaders, in order (K = L, the chunk). */
export const BACKWARD_UNIFORMS = [
  ...SEGMENT_UNIFORMS,
  "nblk",
  "softplus",
  "hasGhEnd",
];

const w = (name: string): Binding => ({ name, write: true });
const r = (name: string): Binding => ({ name, write: false });

/**
 * Full: outputs gu, gdl, [gz], gBC (b, nblk, N, 2, l), gAux (b, nseg, dIn,
 * N+2) = [∂A | ∂D | ∂bias] partials, gh0 (b, dIn, N) (gradient of the
 * initial state); inputs u, dl, P, Bm, Cm, [z], ckpt, gy, ghEnd (always
 * bound). Local: outputs ghloc (b, nseg, dIn, N), ssum (b, nseg, dIn);
 * inputs dl, P, Cm, [z], gy.
 *
 * @param c the config.
 * @returns binding list.
 */
export function backwardBindings(c: BackwardConfig): Binding[] {
  const v = c.N % 4 === 0 ? "vec4<f32>" as const : "f32" as const;
  const B = { name: "Bm", write: false, type: v };
  const C = { name: "Cm", write: false, type: v };
  const z = c.hasZ ? [r("z")] : [];
  if (c.mode === "local") {
    return [w("ghloc"), w("ssum"), r("dl"), r("P"), C, ...z, r("gy")];
  }
  return [
    w("gu"),
    w("gdl"),
    ...(c.hasZ ? [w("gz")] : []),
    w("gBC"),
    w("gAux"),
    w("gh0"),
    r("u"),
    r("dl"),
    r("P"),
    B,
    C,
    ...z,
    r("ckpt"),
    r("gy"),
    r("ghEnd"),
  ];
}

/**
 * @param c the config.
 * @returns WGSL of one backward pass; dispatch (ceil(dIn/DC), nseg, b).
 */
export function backwardShader(c: BackwardConfig): string {
  const { N, DC, S, m } = c;
  const WG = DC * S;
  const L = S * m;
  const R = DC + 1;
  const full = c.mode === "full";
  const vec = N % 4 === 0;
  const NQ = vec ? N / 4 : N;
  const each = (f: (k: number) => string) => unroll(N, f);
  const js = (f: (j: number) => string) => unroll(m, f);
  const [loadB, Bk] = loadRow("Bm", "bi * U.l + t", N, vec, "bq");
  const [loadC, Ck] = loadRow("Cm", "bi * U.l + t", N, vec, "cq");
  const el = (name: string, row: string) =>
    vec
      ? `${name}[(${row}) * ${NQ}u + n / 4u][n % 4u]`
      : `${name}[(${row}) * ${N}u + n]`;
  const dvAt = `
      let idx = (bi * U.l + t) * U.dIn + dc;
      var dv = dl[idx] + bias;
      if (U.softplus != 0u) { dv = softplus(dv); }`;
  const gyrAt = `gy[idx]${c.hasZ ? " * silu(z[idx])" : ""}`;
  // (A) forward local end state of the run (full mode only).
  const fwdLocal = `
${each((k) => `    var h${k} = 0.0;`)}
    var sum = 0.0;
    for (var t = ts; t < te; t = t + 1u) {
      ${dvAt}
      let du = dv * u[idx];
      ${loadB}
${each((k) => `      h${k} = exp2(dv * a${k}) * h${k} + du * ${Bk(k)};`)}
      sum = sum + dv;
    }
${each((k) => `    sH[${k}u * ${WG}u + lid] = h${k};`)}`;
  // (B) reverse local gradient of the run from zero.
  const bwdLocal = `
${each((k) => `    var gg${k} = 0.0;`)}
    var sum2 = 0.0;
    for (var t1 = te; t1 > ts; t1 = t1 - 1u) {
      let t = t1 - 1u;
      ${dvAt}
      let gyr = ${gyrAt};
      ${loadC}
${each((k) => `      gg${k} = (gg${k} + gyr * ${Ck(k)}) * exp2(dv * a${k});`)}
      sum2 = sum2 + dv;
    }
${each((k) => `    sG[${k}u * ${WG}u + lid] = gg${k};`)}
    sS[lid] = sum2;`;
  const fwdCarry = `
      var hc = ckpt[((bi * U.nck + c0 / U.K) * U.dIn + dj) * ${N}u + kj];${
    chainRuns({ buf: "sH", carry: "hc", S, DC, reverse: false, total: false })
  }`;
  // (D) per state: recompute the run's states, reverse, accumulate.
  const perState = `
${
    js((j) => `
    let t${j} = ts + ${j}u;
    let ok${j} = t${j} < te;
    let ix${j} = (bi * U.l + min(t${j}, U.l - 1u)) * U.dIn + dc;
    var dv${j} = dl[ix${j}] + bias;
    if (U.softplus != 0u) { dv${j} = softplus(dv${j}); }
    dv${j} = select(0.0, dv${j}, ok${j});
    let u${j} = select(0.0, u[ix${j}], ok${j});
    let gyr${j} = select(0.0, gy[ix${j}]${
      c.hasZ ? ` * silu(z[ix${j}])` : ""
    }, ok${j});
    var q${j} = 0.0;
    var r${j} = 0.0;
    ${c.hasZ ? `var yr${j} = Dv * u${j};` : ""}
    let rw${j} = bi * U.l + min(t${j}, U.l - 1u);`)
  }
    for (var n = 0u; n < ${N}u; n = n + 1u) {
      let an = sA[n * ${DC}u + ch];
      let an2 = an * ${LOG2E};
      var gn = sG[n * ${WG}u + lid];
      var gAn = 0.0;
      let hp = sH[n * ${WG}u + lid];
${
    js((j) => `
      let b${j} = ${el("Bm", `rw${j}`)};
      let e${j} = exp2(dv${j} * an2);
      let hh${j} = e${j} * ${
      j === 0 ? "hp" : `hh${j - 1}`
    } + dv${j} * u${j} * b${j};`)
  }
${
    js((jj) => {
      const j = m - 1 - jj;
      const prev = j === 0 ? "hp" : `hh${j - 1}`;
      return `
      let cv${j} = ${el("Cm", `rw${j}`)};
      let G${j} = gn + gyr${j} * cv${j};
      ${c.hasZ ? `yr${j} = yr${j} + cv${j} * hh${j};` : ""}
      q${j} = q${j} + G${j} * b${j};
      let w${j} = G${j} * e${j} * ${prev};
      // Threads past dIn repeat the last channel: they add 0 to ∂B, ∂C.
      r${j} = r${j} + an * w${j};
      gAn = gAn + dv${j} * w${j};
      sRed[(s * ${m}u + ${j}u) * ${R}u + ch] = select(0.0, G${j} * dv${j} * u${j}, dOk);
      sRed[(${L}u + s * ${m}u + ${j}u) * ${R}u + ch] = select(0.0, gyr${j} * hh${j}, dOk);
      gn = e${j} * G${j};`;
    })
  }
      sRA[lid] = gAn;
      workgroupBarrier();
      for (var o = lid; o < ${2 * L}u; o = o + ${WG}u) {
        var acc = 0.0;
        for (var q = 0u; q < ${DC}u; q = q + 1u) { acc = acc + sRed[o * ${R}u + q]; }
        let t = c0 + o % ${L}u;
        if (t < g1) {
          gBC[(((bi * U.nblk + wid.x) * ${N}u + n) * 2u + o / ${L}u) * U.l + t] = acc;
        }
      }
      for (var cc = lid; cc < ${DC}u; cc = cc + ${WG}u) {
        var ga = 0.0;
        for (var q = 0u; q < ${S}u; q = q + 1u) { ga = ga + sRA[q * ${DC}u + cc]; }
        sGA[n * ${DC}u + cc] = sGA[n * ${DC}u + cc] + ga;
      }
      workgroupBarrier();
    }
${
    js((j) => `
    if (ok${j} && dOk) {
      gu[ix${j}] = dv${j} * q${j} + gyr${j} * Dv;
      var gd${j} = u${j} * q${j} + r${j};
      if (U.softplus != 0u) { gd${j} = gd${j} * sigmoid(dl[ix${j}] + bias); }
      gdl[ix${j}] = gd${j};
      ${
      c.hasZ
        ? `let zv${j} = z[ix${j}]; gz[ix${j}] = gy[ix${j}] * yr${j} * dsilu(zv${j});`
        : ""
    }
      gDs = gDs + gyr${j} * u${j};
      gBs = gBs + gd${j};
    }`)
  }`;
  const finish = full
    ? `
  let row = (bi * U.nseg + seg) * U.dIn;
  for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
    let dj = d0 + j % ${DC}u;
    let kj = j / ${DC}u;
    if (dj < U.dIn) {
      gAux[(row + dj) * ${N + 2}u + kj] = sGA[j];
      if (seg == 0u) { gh0[(bi * U.dIn + dj) * ${N}u + kj] = sCar[j]; }
    }
  }
  workgroupBarrier();
  sS[lid] = gDs;
  sRA[lid] = gBs;
  workgroupBarrier();
  if (lid < ${DC}u && dOk) {
    var a = 0.0;
    var bsum = 0.0;
    for (var q = 0u; q < ${S}u; q = q + 1u) {
      a = a + sS[q * ${DC}u + lid];
      bsum = bsum + sRA[q * ${DC}u + lid];
    }
    gAux[(row + d) * ${N + 2}u + ${N}u] = a;
    gAux[(row + d) * ${N + 2}u + ${N + 1}u] = bsum;
  }`
    : localFinish("ghloc", DC, S, N);
  return /* wgsl */ `
${declare(backwardBindings(c), BACKWARD_UNIFORMS)}
${MATH}
${full ? `var<workgroup> sH: array<f32, ${WG * N}>;` : ""}
var<workgroup> sG: array<f32, ${WG * N}>;
var<workgroup> sS: array<f32, ${WG}>;
var<workgroup> sCar: array<f32, ${DC * N}>;
var<workgroup> sA: array<f32, ${DC * N}>;
${
    full
      ? `var<workgroup> sGA: array<f32, ${DC * N}>;
var<workgroup> sRed: array<f32, ${2 * L * R}>;
var<workgroup> sRA: array<f32, ${WG}>;`
      : ""
  }
${segmentMain(DC, S, N)}
  var gDs = 0.0;
  var gBs = 0.0;
  for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
    let dj = min(d0 + j % ${DC}u, U.dIn - 1u);
    let kj = j / ${DC}u;
    sA[j] = P[dj * ${N + 2}u + kj];
    var g = 0.0;
    ${
    full
      ? `if (U.hasGhEnd != 0u) { g = ghEnd[((bi * U.nseg + seg) * U.dIn + dj) * ${N}u + kj]; }
    sGA[j] = 0.0;`
      : ""
  }
    sCar[j] = g;
  }
  let nchunk = (g1 - g0 + ${L - 1}u) / ${L}u;
  for (var jc = 0u; jc < nchunk; jc = jc + 1u) {
    let c0 = g0 + (nchunk - 1u - jc) * ${L}u;
    let ts = min(c0 + s * ${m}u, g1);
    let te = min(ts + ${m}u, g1);
    ${full ? fwdLocal : ""}
    ${bwdLocal}
    workgroupBarrier();
    for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
      let cj = j % ${DC}u;
      let kj = j / ${DC}u;
      let dj = min(d0 + cj, U.dIn - 1u);
      let aj = sA[j] * ${LOG2E};
      ${full ? fwdCarry : ""}
      var gc = sCar[j];${
    chainRuns({ buf: "sG", carry: "gc", S, DC, reverse: true, total: true })
  }
      sCar[j] = gc;
    }
    workgroupBarrier();
    ${full ? perState : ""}
  }
  ${finish}
}
`;
}
