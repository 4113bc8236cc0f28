/**
 * WGSL of the backward selective scan with the states spread over lanes, the
 * reverse of the lanes forward (`_wgsl_forward_lanes.ts`): one pass, no
 * length split, two exponentials per state and step (the chunked backward,
 * `_wgsl_backward.ts`, takes three and two barriers per state).
 *
 * A workgroup owns DC channels of one batch row; each channel's N states are
 * split over SL adjacent lanes (NS = N/SL states each, in registers). The
 * checkpoints the forward wrote every K steps are walked last to first; per
 * chunk of K steps:
 *   F. from the chunk's checkpoint, the states are run forward through the
 *      chunk in tiles of T steps (Δ' = softplus(Δ + bias), Δ'·u and the rows
 *      of B staged in workgroup memory per tile, as in the forward), and the
 *      state at the start of every tile is left in workgroup memory;
 *   R. the tiles are walked last to first: the tile's inputs are staged
 *      (with gyr = ∂y·SiLU(z) and the rows of C), each lane re-runs its
 *      states through the tile from the tile's start state keeping every
 *      step's state and decay in registers, then runs the reverse recurrence
 *        G_t = g_t + gyr_t C_t,   g_{t-1} = e^{Δ'_t A} G_t
 *      accumulating ∂A in registers and leaving per step its share of
 *      Σ_n G B, Σ_n A G e h_{t-1} and Σ_n C h (summed over the lanes by the
 *      thread that staged the element, which writes ∂u, ∂Δ, ∂z) and its
 *      ∂B, ∂C terms (summed over the DC channels and written as the
 *      block's partial, reduced afterwards by `reduceBCShader`).
 * ∂D and ∂bias are summed per channel; the state gradient left at t = 0 is
 * the initial state's.
 *
 * Reference: state-spaces/mamba `selective_scan_bwd_kernel.cuh` (recompute
 * the forward per chunk from saved states, then the reverse scan; ∂B, ∂C
 * summed across channels); Gu & Dao, "Mamba" (2023) §3.3.
 *
 * @module
 */
import { type Binding, declare, LOG2E, MATH, unroll } from "./_wgsl_common.ts";

/** Everything baked into a lanes backward shader. */
export interface BackwardLanesConfig {
  /** State size. */
  N: number;
  /** Lanes per channel (divides N; SL·DC ≤ 256). */
  SL: number;
  /** Channels per workgroup. */
  DC: number;
  /** Steps per tile (a multiple of SL that divides K). */
  T: number;
  /** Checkpoint interval (the forward's), a multiple of T. */
  K: number;
  hasZ: boolean;
}

/** @returns the pipeline cache key of a lanes backward config. */
export function backwardLanesKey(c: BackwardLanesConfig): string {
  return `mamba_bwd_lanes_N${c.N}_SL${c.SL}_DC${c.DC}_T${c.T}_K${c.K}_${+c
    .hasZ}`;
}

/** @returns bytes of workgroup memory a lanes backward config uses. */
export function backwardLanesWorkgroupBytes(c: BackwardLanesConfig): number {
  const { N, SL, DC, T, K } = c;
  return 4 * (3 * T * DC + 2 * T * N + (K / T) * DC * N + 3 * T * DC * SL +
    2 * T * N * (DC + 1));
}

/**
 * Checks a lanes backward config.
 *
 * @param c the config.
 * @returns why it cannot run, or null.
 */
export function backwardLanesConfigProblem(
  c: BackwardLanesConfig,
): string | null {
  if (c.N % c.SL !== 0) return `lanes ${c.SL} do not divide N = ${c.N}`;
  if (c.T % c.SL !== 0) return `tile ${c.T} is not a multiple of lanes ${c.SL}`;
  if (c.K % c.T !== 0) {
    return `tile ${c.T} does not divide the checkpoint interval ${c.K}`;
  }
  if (c.SL * c.DC > 256) return `${c.SL} lanes × ${c.DC} channels > 256`;
  return null;
}

/**
 * Uniform fields of the lanes backward, in order: nck checkpoints per
 * sequence, nblk channel blocks (ceil(dIn / DC)), softplus and hasGhEnd 0 or
 * 1.
 */
export const BACKWARD_LANES_UNIFORMS = [
  "b",
  "l",
  "dIn",
  "nck",
  "nblk",
  "softplus",
  "hasGhEnd",
];

/**
 * Storage bindings, in order: outputs gu, gdl, [gz] (b, l, dIn), gBC (b,
 * nblk, N, 2, l) per-block partials of ∂B and ∂C, gAux (b, 1, dIn, N+2) =
 * [∂A | ∂D | ∂bias] per batch row, gh0 (b, dIn, N); inputs u, dl, P (dIn,
 * N+2) = [A | D | bias], Bm, Cm, [z], ckpt (b, nck, dIn, N), gy, ghEnd (b,
 * dIn, N; any buffer when unused).
 *
 * @param c the config.
 * @returns binding list.
 */
export function backwardLanesBindings(c: BackwardLanesConfig): Binding[] {
  const w = (name: string) => ({ name, write: true });
  const r = (name: string) => ({ name, write: false });
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
    r("Bm"),
    r("Cm"),
    ...(c.hasZ ? [r("z")] : []),
    r("ckpt"),
    r("gy"),
    r("ghEnd"),
  ];
}

/**
 * @param c the config (see {@linkcode backwardLanesConfigProblem}).
 * @returns WGSL; dispatch (ceil(dIn / DC), 1, b).
 */
export function backwardLanesShader(c: BackwardLanesConfig): string {
  const { N, SL, DC, T, K, hasZ } = c;
  const WG = SL * DC;
  const NS = N / SL;
  const KT = K / T;
  const E = T / SL; // elements staged (and finished) per thread per tile
  const EB = Math.ceil((T * N) / WG); // B (and C) floats staged per thread
  const R = DC + 1; // padded row of the ∂B/∂C channel sums
  const states = (f: (k: number) => string) => unroll(NS, f);
  const elems = (f: (e: number) => string) => unroll(E, f);
  const rows = (f: (j: number) => string) => unroll(EB, f);
  const steps = (f: (i: number) => string) => unroll(T, f);
  const prev = (i: number, k: number) => i === 0 ? `hp${k}` : `h${i - 1}_${k}`;
  // Stage element e of this thread: step lid / DC + e·SL, channel cL.
  const stageElems = (reverse: boolean) =>
    elems((e) => `
    {
      let i = lid / ${DC}u + ${e * SL}u;
      let ok = t0 + i < U.l && dOkL;
      let ix = (bi * U.l + min(t0 + i, U.l - 1u)) * U.dIn + dL;
      let raw = select(0.0, dl[ix], ok) + biasL;
      var dv = raw;
      if (U.softplus != 0u) { dv = softplus(raw); }
      dv = select(0.0, dv, ok);
      let uv = select(0.0, u[ix], ok);
      sDV[i * ${DC}u + cL] = dv;
      sDU[i * ${DC}u + cL] = dv * uv;${
      reverse
        ? `
      let gyv = select(0.0, gy[ix], ok);${
          hasZ
            ? `
      let zv = select(0.0, z[ix], ok);
      zE${e} = zv;
      let gyr = gyv * silu(zv);`
            : `
      let gyr = gyv;`
        }
      sGY[i * ${DC}u + cL] = gyr;
      rawE${e} = raw;
      dvE${e} = dv;
      uE${e} = uv;
      gyE${e} = gyv;
      gyrE${e} = gyr;`
        : ""
    }
    }`);
  const stageRows = (withC: boolean) =>
    rows((j) => `
    {
      let q = lid + ${j * WG}u;
      if (q < ${T * N}u) {
        let okb = t0 + q / ${N}u < U.l;
        let qb = min((bi * U.l + t0) * ${N}u + q, U.b * U.l * ${N}u - 1u);
        sB[q] = select(0.0, Bm[qb], okb);${
      withC
        ? `
        sC[q] = select(0.0, Cm[qb], okb);`
        : ""
    }
      }
    }`);
  // F: advance the states one tile, from h (registers).
  const forwardTile = steps((i) => `
    {
      let dv = sDV[${i * DC}u + ch];
      let du = sDU[${i * DC}u + ch];
${
    states((k) =>
      `      h${k} = exp2(dv * a${k}) * h${k} + du * sB[${
        i * N
      }u + s0 + ${k}u];`
    )
  }
    }`);
  // R: the tile's states and decays from its start state hp.
  const recompute = steps((i) => `
    let dv${i} = sDV[${i * DC}u + ch];
    let du${i} = sDU[${i * DC}u + ch];
${
    states((k) => `
    let e${i}_${k} = exp2(dv${i} * a${k});
    let h${i}_${k} = e${i}_${k} * ${prev(i, k)} + du${i} * sB[${
      i * N
    }u + s0 + ${k}u];`)
  }`);
  const reverseStep = (i: number) => `
    {
      let gyr = sGY[${i * DC}u + ch];
      var q = 0.0;
      var r = 0.0;
      var yr = 0.0;
${
    states((k) => `
      {
        let cv = sC[${i * N}u + s0 + ${k}u];
        let G = g${k} + gyr * cv;
        q += G * sB[${i * N}u + s0 + ${k}u];
        yr += cv * h${i}_${k};
        let w = G * e${i}_${k} * ${prev(i, k)};
        r += an${k} * w;
        gA${k} += dv${i} * w;
        sBC[${
      i * N
    }u * ${R}u + (s0 + ${k}u) * ${R}u + ch] = select(0.0, G * du${i}, dOk);
        sBC[${
      (T + i) * N
    }u * ${R}u + (s0 + ${k}u) * ${R}u + ch] = select(0.0, gyr * h${i}_${k}, dOk);
        g${k} = e${i}_${k} * G;
      }`)
  }
      let sh = (${i * DC}u + ch) * ${SL}u + lane;
      sQ[sh] = q;
      sR[sh] = r;
      sYR[sh] = yr;
    }`;
  const finish = elems((e) => `
    {
      let i = lid / ${DC}u + ${e * SL}u;
      let sh = (i * ${DC}u + cL) * ${SL}u;
      var Q = 0.0;
      var Rs = 0.0;
      var YR = 0.0;
      for (var q = 0u; q < ${SL}u; q++) {
        Q += sQ[sh + q];
        Rs += sR[sh + q];
        YR += sYR[sh + q];
      }
      if (t0 + i < U.l && dOkL) {
        let ix = (bi * U.l + t0 + i) * U.dIn + dL;
        gu[ix] = dvE${e} * Q + gyrE${e} * DL;
        var gd = uE${e} * Q + Rs;
        if (U.softplus != 0u) { gd = gd * sigmoid(rawE${e}); }
        gdl[ix] = gd;${
    hasZ
      ? `
        gz[ix] = gyE${e} * (YR + DL * uE${e}) * dsilu(zE${e});`
      : ""
  }
        gDs += gyrE${e} * uE${e};
        gBs += gd;
      }
    }`);
  return /* wgsl */ `
${declare(backwardLanesBindings(c), BACKWARD_LANES_UNIFORMS)}
${MATH}
var<workgroup> sDV: array<f32, ${T * DC}>;
var<workgroup> sDU: array<f32, ${T * DC}>;
var<workgroup> sGY: array<f32, ${T * DC}>;
var<workgroup> sB: array<f32, ${T * N}>;
var<workgroup> sC: array<f32, ${T * N}>;
var<workgroup> sHb: array<f32, ${KT * DC * N}>;
var<workgroup> sQ: array<f32, ${T * DC * SL}>;
var<workgroup> sR: array<f32, ${T * DC * SL}>;
var<workgroup> sYR: array<f32, ${T * DC * SL}>;
var<workgroup> sBC: array<f32, ${2 * T * N * R}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let d0 = wid.x * ${DC}u;
  // Scan role: channel ch, lane (states s0 .. s0 + ${NS - 1}).
  let ch = lid / ${SL}u;
  let lane = lid % ${SL}u;
  let s0 = lane * ${NS}u;
  let d = d0 + ch;
  let dOk = d < U.dIn;
  let dc = min(d, U.dIn - 1u);
  let pb = dc * ${N + 2}u;
${states((k) => `  let an${k} = P[pb + s0 + ${k}u];`)}
${states((k) => `  let a${k} = an${k} * ${LOG2E};`)}
${states((k) => `  var gA${k} = 0.0;`)}
${
    states((k) =>
      `  var g${k} = select(0.0, ghEnd[(bi * U.dIn + dc) * ${N}u + s0 + ${k}u], U.hasGhEnd != 0u);`
    )
  }
  // Stage and finish role: channel cL, steps lid / DC + e·SL.
  let cL = lid % ${DC}u;
  let dOkL = d0 + cL < U.dIn;
  let dL = min(d0 + cL, U.dIn - 1u);
  let biasL = P[dL * ${N + 2}u + ${N + 1}u];
  let DL = P[dL * ${N + 2}u + ${N}u];
  var gDs = 0.0;
  var gBs = 0.0;
${
    elems((e) =>
      `  var rawE${e} = 0.0; var dvE${e} = 0.0; var uE${e} = 0.0; var gyE${e} = 0.0; var gyrE${e} = 0.0; var zE${e} = 0.0;`
    )
  }
  for (var c1 = U.nck; c1 > 0u; c1--) {
    let c0 = (c1 - 1u) * ${K}u;
    // F: the chunk forward from its checkpoint; each tile's start state kept.
    let cb = ((bi * U.nck + c1 - 1u) * U.dIn + dc) * ${N}u + s0;
${states((k) => `    var h${k} = ckpt[cb + ${k}u];`)}
    for (var j = 0u; j < ${KT}u; j++) {
      let t0 = c0 + j * ${T}u;
      if (t0 >= U.l) { break; }
${stageElems(false)}
${stageRows(false)}
      workgroupBarrier();
      let hb = (j * ${DC}u + ch) * ${N}u + s0;
${states((k) => `      sHb[hb + ${k}u] = h${k};`)}
${forwardTile}
      workgroupBarrier();
    }
    // R: the chunk's tiles, last to first.
    for (var j1 = ${KT}u; j1 > 0u; j1--) {
      let t0 = c0 + (j1 - 1u) * ${T}u;
      if (t0 >= U.l) { continue; }
${stageElems(true)}
${stageRows(true)}
      workgroupBarrier();
      let hb = ((j1 - 1u) * ${DC}u + ch) * ${N}u + s0;
${states((k) => `      let hp${k} = sHb[hb + ${k}u];`)}
${recompute}
${unroll(T, (ii) => reverseStep(T - 1 - ii))}
      workgroupBarrier();
${finish}
      // Output o = ((n·2 + which)·T + i): consecutive threads write
      // consecutive steps of one row of the partials.
      for (var o = lid; o < ${2 * T * N}u; o += ${WG}u) {
        let i = o % ${T}u;
        let which = (o / ${T}u) % 2u;
        let n = o / ${2 * T}u;
        let sb = ((which * ${T}u + i) * ${N}u + n) * ${R}u;
        var acc = 0.0;
        for (var q = 0u; q < ${DC}u; q++) { acc += sBC[sb + q]; }
        if (t0 + i < U.l) {
          gBC[(((bi * U.nblk + wid.x) * ${N}u + n) * 2u + which) * U.l + t0 + i] = acc;
        }
      }
      workgroupBarrier();
    }
  }
  if (dOk) {
    let ab = (bi * U.dIn + d) * ${N + 2}u + s0;
${states((k) => `    gAux[ab + ${k}u] = gA${k};`)}
    let hb = (bi * U.dIn + d) * ${N}u + s0;
${states((k) => `    gh0[hb + ${k}u] = g${k};`)}
  }
  // ∂D, ∂bias: the SL finish threads of each channel summed.
  sQ[lid] = gDs;
  sR[lid] = gBs;
  workgroupBarrier();
  if (lid < ${DC}u && d0 + lid < U.dIn) {
    var sd = 0.0;
    var sb = 0.0;
    for (var q = 0u; q < ${SL}u; q++) {
      sd += sQ[lid + q * ${DC}u];
      sb += sR[lid + q * ${DC}u];
    }
    let ab = (bi * U.dIn + d0 + lid) * ${N + 2}u;
    gAux[ab + ${N}u] = sd;
    gAux[ab + ${N + 1}u] = sb;
  }
}
`;
}
