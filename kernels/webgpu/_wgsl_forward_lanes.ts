/**
 * WGSL of the forward selective scan with the states spread over lanes: one
 * pass over the sequence, no length split, no second exp per state.
 *
 * A workgroup owns DC channels of one batch row; each channel's N states are
 * split over SL lanes (N/SL states each, in registers), so a (b, dIn) problem
 * runs on b·dIn·SL threads. The sequence is walked in tiles of T steps:
 *   1. stage: Δ' = softplus(Δ + bias) and Δ'·u of the tile's T×DC elements,
 *      and its T rows of B and C, go to workgroup memory (the raw values were
 *      loaded into registers during the previous tile, so their latency hides
 *      behind that tile's arithmetic);
 *   2. scan: each lane advances its states T steps, h = e^{Δ'A}·h + Δ'u·B, and
 *      leaves its share of C·h per step in workgroup memory;
 *   3. finish: the thread that staged an element sums its lanes' shares, adds
 *      D·u, applies the SiLU(z) gate and writes y.
 * Two barriers per tile; every input is read from memory once, y written
 * once. Checkpoints of the states every K steps (for the backward) are
 * written by the lanes that own them.
 *
 * Compared with the chunked two-phase scan (`_wgsl_forward.ts`) this does one
 * exp per state and step instead of two and keeps no per-run carries, at the
 * price of the lane reduction in step 3 and a serial walk over the whole
 * length per workgroup (which b·dIn·SL threads must hide).
 *
 * Reference: state-spaces/mamba `selective_scan_fwd_kernel.cuh` (a block per
 * (batch, channels), the sequence in chunks staged in shared memory).
 *
 * @module
 */
import { type Binding, declare, LOG2E, MATH, unroll } from "./_wgsl_common.ts";

/** Everything baked into a lanes forward shader. */
export interface LanesConfig {
  /** State size. */
  N: number;
  /** Lanes per channel (divides N; SL·DC ≤ 256). */
  SL: number;
  /** Channels per workgroup. */
  DC: number;
  /** Steps per tile (a multiple of SL). */
  T: number;
  hasZ: boolean;
  /**
   * The SL lanes of a channel are adjacent threads (else SL blocks of DC
   * channels): a lane writes its share next to its channel's other lanes,
   * the finish reads them as one vector (SL = 2 or 4), and B and C rows are
   * read as vec4 (N/SL a multiple of 4).
   */
  adjacent?: boolean;
}

/** @returns the pipeline cache key of a lanes config. */
export function lanesKey(c: LanesConfig): string {
  return `mamba_fwd_lanes_N${c.N}_SL${c.SL}_DC${c.DC}_T${c.T}_${+c.hasZ}_${+!!c
    .adjacent}`;
}

/** @returns bytes of workgroup memory a lanes config uses. */
export function lanesWorkgroupBytes(c: LanesConfig): number {
  return 4 * (2 * c.T * c.DC + 2 * c.T * c.N + c.T * c.DC * c.SL);
}

/**
 * Checks a lanes config.
 *
 * @param c the config.
 * @returns why it cannot run, or null.
 */
export function lanesConfigProblem(c: LanesConfig): string | null {
  if (c.N % c.SL !== 0) return `lanes ${c.SL} do not divide N = ${c.N}`;
  if (c.T % c.SL !== 0) return `tile ${c.T} is not a multiple of lanes ${c.SL}`;
  if (c.SL * c.DC > 256) return `${c.SL} lanes × ${c.DC} channels > 256`;
  return null;
}

/**
 * Uniform fields of the lanes forward, in order. K: checkpoint interval
 * (0: none), nck: checkpoints per sequence; softplus, hasHin: 0 or 1; z's
 * element (b, t, d) is at ((b·l + t)·zStride + zOff + d), so z can be read
 * in place from in_proj's output.
 */
export const LANES_UNIFORMS = [
  "b",
  "l",
  "dIn",
  "nck",
  "K",
  "softplus",
  "hasHin",
  "zStride",
  "zOff",
];

/**
 * Storage bindings, in order: y, hend, ckpt (any buffer when K = 0), then
 * u, dl, P (dIn, N+2) = [A | D | bias], B, C, [z], hin (b, dIn, N; any
 * buffer when unused).
 *
 * @param c the config.
 * @returns binding list.
 */
export function lanesBindings(c: LanesConfig): Binding[] {
  const w = (name: string) => ({ name, write: true });
  const r = (name: string) => ({ name, write: false });
  return [
    w("y"),
    w("hend"),
    w("ckpt"),
    r("u"),
    r("dl"),
    r("P"),
    r("Bm"),
    r("Cm"),
    ...(c.hasZ ? [r("z")] : []),
    r("hin"),
  ];
}

/**
 * @param c the config (see {@linkcode lanesConfigProblem}).
 * @returns WGSL; dispatch (ceil(dIn / DC), 1, b).
 */
export function lanesShader(c: LanesConfig): string {
  const { N, SL, DC, T, hasZ } = c;
  const WG = SL * DC;
  const NS = N / SL;
  const E = T / SL; // tile elements staged (and finished) per thread
  const EB = Math.ceil((T * N) / WG); // B (and C) floats staged per thread
  const states = (f: (k: number) => string) => unroll(NS, f);
  const elems = (f: (j: number) => string) => unroll(E, f);
  const rows = (f: (j: number) => string) => unroll(EB, f);
  const adj = !!c.adjacent;
  const vecBC = adj && NS % 4 === 0;
  const vecY = adj && (SL === 2 || SL === 4);
  const Bk = (t: number, k: number) =>
    vecBC ? `b4_${k >> 2}.${"xyzw"[k & 3]}` : `sB[${t * N}u + s0 + ${k}u]`;
  const Ck = (t: number, k: number) =>
    vecBC ? `c4_${k >> 2}.${"xyzw"[k & 3]}` : `sC[${t * N}u + s0 + ${k}u]`;
  // Where lane \`lane\` of channel \`ch\` leaves its share of C·h for step t,
  // and how the finish sums a channel's SL shares for its step tt (in lane
  // order, as the strided layout does).
  const shareStore = (t: number) =>
    !adj
      ? `sY[(${t * SL}u + lane) * ${DC}u + ch] = p;`
      : vecY
      ? `sY[${t * DC}u + ch][lane] = p;`
      : `sY[(${t * DC}u + ch) * ${SL}u + lane] = p;`;
  const shareSum = !adj
    ? `var acc = 0.0;
      for (var q = 0u; q < ${SL}u; q++) { acc += sY[(tt * ${SL}u + q) * ${DC}u + cL]; }`
    : vecY
    ? `let v = sY[tt * ${DC}u + cL];
      let acc = ${SL === 4 ? "((v.x + v.y) + v.z) + v.w" : "v.x + v.y"};`
    : `var acc = 0.0;
      for (var q = 0u; q < ${SL}u; q++) { acc += sY[(tt * ${DC}u + cL) * ${SL}u + q]; }`;
  // Element j of this thread in the tile: step lid / DC + j·SL, channel cL.
  const load = (start: string) => `
    {
      let tn = ${start};
${
    elems((j) => `
      let ta${j} = tn + lid / ${DC}u + ${j * SL}u;
      let ok${j} = ta${j} < U.l && dOkL;
      let ix${j} = (bi * U.l + min(ta${j}, U.l - 1u)) * U.dIn + dL;
      nraw${j} = select(0.0, dl[ix${j}], ok${j});
      nu${j} = select(0.0, u[ix${j}], ok${j});${
      hasZ
        ? `
      nz${j} = select(0.0, z[(bi * U.l + min(ta${j}, U.l - 1u)) * U.zStride + U.zOff + dL], ok${j});`
        : ""
    }`)
  }
${
    rows((j) => `
      let q${j} = lid + ${j * WG}u;
      let okb${j} = q${j} < ${T * N}u && tn + q${j} / ${N}u < U.l;
      let qb${j} = min((bi * U.l + tn) * ${N}u + q${j}, U.b * U.l * ${N}u - 1u);
      nb${j} = select(0.0, Bm[qb${j}], okb${j});
      nc${j} = select(0.0, Cm[qb${j}], okb${j});`)
  }
    }`;
  const stage = `
${
    elems((j) => `
    {
      let ta = t0 + lid / ${DC}u + ${j * SL}u;
      var dv = nraw${j} + biasL;
      if (U.softplus != 0u) { dv = softplus(dv); }
      dv = select(0.0, dv, ta < U.l && dOkL);
      let e = lid + ${j * WG}u;
      sDV[e] = dv;
      sDU[e] = dv * nu${j};
      cu${j} = nu${j};
      cg${j} = ${hasZ ? `silu(nz${j})` : "1.0"};
    }`)
  }
${
    rows((j) => `
    if (lid + ${j * WG}u < ${T * N}u) {${
      vecBC
        ? `
      let q = lid + ${j * WG}u;
      sB4[q / 4u][q % 4u] = nb${j};
      sC4[q / 4u][q % 4u] = nc${j};`
        : `
      sB[lid + ${j * WG}u] = nb${j};
      sC[lid + ${j * WG}u] = nc${j};`
    }
    }`)
  }`;
  const step = (t: number) => `
    if (U.K != 0u && t0 + ${t}u < U.l && (t0 + ${t}u) % U.K == 0u && dOk) {
      let cb = ((bi * U.nck + (t0 + ${t}u) / U.K) * U.dIn + d) * ${N}u + s0;
${states((k) => `      ckpt[cb + ${k}u] = h${k};`)}
    }
    {
      let dv = sDV[${t * DC}u + ch];
      let du = sDU[${t * DC}u + ch];
      var p = 0.0;${
    vecBC
      ? unroll(NS / 4, (q) => `
      let b4_${q} = sB4[${(t * N) / 4}u + s0 / 4u + ${q}u];
      let c4_${q} = sC4[${(t * N) / 4}u + s0 / 4u + ${q}u];`)
      : ""
  }
${
    states((k) => `
      h${k} = exp2(dv * a${k}) * h${k} + du * ${Bk(t, k)};
      p += h${k} * ${Ck(t, k)};`)
  }
      ${shareStore(t)}
    }`;
  const finish = elems((j) => `
    {
      let ta = t0 + lid / ${DC}u + ${j * SL}u;
      let tt = lid / ${DC}u + ${j * SL}u;
      ${shareSum}
      if (ta < U.l && dOkL) {
        y[(bi * U.l + ta) * U.dIn + dL] = (acc + DL * cu${j}) * cg${j};
      }
    }`);
  return /* wgsl */ `
${declare(lanesBindings(c), LANES_UNIFORMS)}
${MATH}
var<workgroup> sDV: array<f32, ${T * DC}>;
var<workgroup> sDU: array<f32, ${T * DC}>;
${
    vecBC
      ? `var<workgroup> sB4: array<vec4<f32>, ${(T * N) / 4}>;
var<workgroup> sC4: array<vec4<f32>, ${(T * N) / 4}>;`
      : `var<workgroup> sB: array<f32, ${T * N}>;
var<workgroup> sC: array<f32, ${T * N}>;`
  }
${
    vecY
      ? `var<workgroup> sY: array<vec${SL}<f32>, ${T * DC}>;`
      : `var<workgroup> sY: array<f32, ${T * DC * SL}>;`
  }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let d0 = wid.x * ${DC}u;
  // Scan role: channel ch, lane (states s0 .. s0 + ${NS - 1}).
  let ch = ${adj ? `lid / ${SL}u` : `lid % ${DC}u`};
  let lane = ${adj ? `lid % ${SL}u` : `lid / ${DC}u`};
  let s0 = lane * ${NS}u;
  let d = d0 + ch;
  let dOk = d < U.dIn;
  let dc = min(d, U.dIn - 1u);
  let pb = dc * ${N + 2}u;
${states((k) => `  let a${k} = P[pb + s0 + ${k}u] * ${LOG2E};`)}
${
    states((k) =>
      `  var h${k} = select(0.0, hin[(bi * U.dIn + dc) * ${N}u + s0 + ${k}u], U.hasHin != 0u);`
    )
  }
  // Stage and finish role: channel cL = lid % DC (${
    adj ? "not the scan role's channel" : "the scan role's channel"
  }), steps lid / DC + j·SL.
  let cL = lid % ${DC}u;
  let dOkL = d0 + cL < U.dIn;
  let dL = min(d0 + cL, U.dIn - 1u);
  let biasL = P[dL * ${N + 2}u + ${N + 1}u];
  let DL = P[dL * ${N + 2}u + ${N}u];
${
    elems((j) =>
      `  var nraw${j} = 0.0; var nu${j} = 0.0; var nz${j} = 0.0; var cu${j} = 0.0; var cg${j} = 0.0;`
    )
  }
${rows((j) => `  var nb${j} = 0.0; var nc${j} = 0.0;`)}
  // Prefetch tile 0.
${load("0u")}
  for (var t0 = 0u; t0 < U.l; t0 += ${T}u) {
${stage}
    workgroupBarrier();
${load(`t0 + ${T}u`)}
${unroll(T, step)}
    workgroupBarrier();
${finish}
  }
  if (dOk) {
${states((k) => `    hend[(bi * U.dIn + d) * ${N}u + s0 + ${k}u] = h${k};`)}
  }
}
`;
}
