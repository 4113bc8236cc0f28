/**
 * WGSL of the forward selective scan: a chunked two-phase scan inside each
 * workgroup, and the carry pass between length segments.
 *
 * A workgroup owns DC channels of one batch row over one length segment and
 * walks it in chunks of L = S·m steps. Thread (c, s) owns channel c and the
 * s-th run of m steps of the chunk, with all N states in registers:
 *   1. local: from a zero state over its m steps → end state, Σ Δ';
 *   2. carry: one thread per (channel, state) chains the S runs in
 *      workgroup memory, turning each local end state into the state
 *      entering the run (hin_s+1 = exp(A Σ Δ'_s) hin_s + hloc_s);
 *   3. full: from that state over its m steps again, writing y.
 * u, Δ, B are read from HBM once (the second read hits L1/L2), y written
 * once; the price is two exp per state and step instead of one. No private
 * arrays, no per-step barriers: two barriers per chunk.
 *
 * Mode "local" (length split across workgroups) runs 1 + 2 only and writes
 * the segment's end state from zero and Σ Δ' for {@linkcode carryShader}.
 *
 * Reference: Gu & Dao, "Mamba" (2023) §3.3 (hardware-aware scan);
 * state-spaces/mamba `selective_scan_fwd_kernel.cuh` (chunked scan with a
 * running prefix between chunks).
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

/** Everything baked into a forward shader. */
export interface ForwardConfig {
  mode: "full" | "local";
  /** State size. */
  N: number;
  /** Channels per workgroup. */
  DC: number;
  /** Runs per chunk (threads per channel). */
  S: number;
  /** Steps per run. */
  m: number;
  hasZ: boolean;
}

/** @returns the pipeline cache key of a forward config. */
export function forwardKey(c: ForwardConfig): string {
  return `mamba_fwd2_${c.mode}_N${c.N}_DC${c.DC}_S${c.S}_m${c.m}_${+c.hasZ}`;
}

/** @returns bytes of workgroup memory a forward config uses. */
export function forwardWorkgroupBytes(c: ForwardConfig): number {
  const WG = c.DC * c.S;
  return 4 * (WG * c.N + WG + 2 * c.DC * c.N);
}

/**
 * Uniform fields of the forward shaders, in order. K: checkpoint interval
 * (0: none); softplus, hasHin: 0 or 1; z's element (b, t, d) is at
 * ((b·l + t)·zStride + zOff + d), so z can be read in place from in_proj's
 * output.
 */
export const FORWARD_UNIFORMS = [
  ...SEGMENT_UNIFORMS,
  "softplus",
  "hasHin",
  "zStride",
  "zOff",
];

/**
 * Storage bindings, in order: outputs then inputs. `hin` (b, nseg, dIn, N)
 * is always bound (any buffer when unused), so is `ckpt` in full mode.
 *
 * @param c the config.
 * @returns binding list.
 */
export function forwardBindings(c: ForwardConfig): Binding[] {
  const v = c.N % 4 === 0 ? "vec4<f32>" as const : "f32" as const;
  const w = (name: string) => ({ name, write: true });
  const r = (name: string) => ({ name, write: false });
  const full = c.mode === "full";
  return [
    ...(full ? [w("y"), w("hend"), w("ckpt")] : [w("hloc"), w("ssum")]),
    r("u"),
    r("dl"),
    r("P"),
    { name: "Bm", write: false, type: v },
    ...(full ? [{ name: "Cm", write: false, type: v }] : []),
    ...(full && c.hasZ ? [r("z")] : []),
    r("hin"),
  ];
}

/**
 * @param c the config.
 * @returns WGSL of the segment pass; dispatch (ceil(dIn/DC), nseg, b).
 */
export function forwardShader(c: ForwardConfig): string {
  const { N, DC, S, m } = c;
  const WG = DC * S;
  const L = S * m;
  const full = c.mode === "full";
  const vec = N % 4 === 0;
  const each = (f: (k: number) => string) => unroll(N, f);
  const steps = (f: (j: number) => string) => unroll(m, f);
  // The run's m steps are unrolled: every load of u, Δ (and z) is issued
  // before the first exp, clamped to the sequence, and steps past the run's
  // end get Δ' = 0 (an identity step) instead of a branch.
  const loads = (z: boolean) =>
    steps((j) => `
    let ix${j} = (bi * U.l + min(ts + ${j}u, U.l - 1u)) * U.dIn + dc;
    let raw${j} = dl[ix${j}];
    let u${j} = u[ix${j}];${
      z
        ? `
    let z${j} = z[(bi * U.l + min(ts + ${j}u, U.l - 1u)) * U.zStride + U.zOff + dc];`
        : ""
    }`);
  const step = (j: number, phase2: boolean) => {
    const row = `bi * U.l + min(ts + ${j}u, U.l - 1u)`;
    const [loadB, Bk] = loadRow("Bm", row, N, vec, `b${j}q`);
    const [loadC, Ck] = loadRow("Cm", row, N, vec, `c${j}q`);
    // y = C·h as four interleaved partial sums (shorter dependency chains).
    const parts = [0, 1, 2, 3].filter((p) => p < N).map((p) =>
      [...Array(N).keys()].filter((k) => k % 4 === p)
        .map((k) => `h${k} * ${Ck(k)}`).join(" + ")
    );
    return `
    var dv${j} = raw${j} + bias;
    if (U.softplus != 0u) { dv${j} = softplus(dv${j}); }
    dv${j} = select(0.0, dv${j}, ts + ${j}u < te);
    let du${j} = dv${j} * u${j};
    ${loadB}
${each((k) => `    h${k} = exp2(dv${j} * a${k}) * h${k} + du${j} * ${Bk(k)};`)}
    ${
      phase2
        ? `${loadC}
    var y${j} = Dv * u${j} + ${parts.map((p) => `(${p})`).join(" + ")};
    ${c.hasZ ? `y${j} = y${j} * silu(z${j});` : ""}
    if (ts + ${j}u < te && dOk) { y[ix${j}] = y${j}; }`
        : `sum = sum + dv${j};`
    }`;
  };
  const phase1 = `
    var sum = 0.0;
    ${loads(false)}
    ${steps((j) => step(j, false))}`;
  const phase2 = `{
    ${each((k) => `h${k} = sH[${k}u * ${WG}u + lid];`)}
    if (U.K != 0u && ts < te && ts % U.K == 0u && dOk) {
      let cb = ((bi * U.nck + ts / U.K) * U.dIn + d) * ${N}u;
${each((k) => `      ckpt[cb + ${k}u] = h${k};`)}
    }
    ${loads(c.hasZ)}
    ${steps((j) => step(j, true))}
    }`;
  const finish = full
    ? `
  if (seg == U.nseg - 1u) {
    for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
      let dj = d0 + j % ${DC}u;
      if (dj < U.dIn) { hend[dj * ${N}u + j / ${DC}u + bi * U.dIn * ${N}u] = sCar[j]; }
    }
  }`
    : localFinish("hloc", DC, S, N);
  return /* wgsl */ `
${declare(forwardBindings(c), FORWARD_UNIFORMS)}
${MATH}
var<workgroup> sH: array<f32, ${WG * N}>;
var<workgroup> sS: array<f32, ${WG}>;
var<workgroup> sCar: array<f32, ${DC * N}>;
var<workgroup> sA: array<f32, ${DC * N}>;
${segmentMain(DC, S, N)}
  for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
    let dj = min(d0 + j % ${DC}u, U.dIn - 1u);
    let kj = j / ${DC}u;
    sA[j] = P[dj * ${N + 2}u + kj] * ${LOG2E};
    var h0 = 0.0;
    if (U.hasHin != 0u) { h0 = hin[((bi * U.nseg + seg) * U.dIn + dj) * ${N}u + kj]; }
    sCar[j] = h0;
  }
  for (var c0 = g0; c0 < g1; c0 = c0 + ${L}u) {
    let ts = min(c0 + s * ${m}u, g1);
    let te = min(ts + ${m}u, g1);
${each((k) => `    var h${k} = 0.0;`)}
    {
    ${phase1}
${each((k) => `    sH[${k}u * ${WG}u + lid] = h${k};`)}
    sS[lid] = sum;
    }
    workgroupBarrier();
    for (var j = lid; j < ${DC * N}u; j = j + ${WG}u) {
      let cj = j % ${DC}u;
      let kj = j / ${DC}u;
      let aj = sA[j];
      var hc = sCar[j];${
    chainRuns({ buf: "sH", carry: "hc", S, DC, reverse: false, total: true })
  }
      sCar[j] = hc;
    }
    workgroupBarrier();
    ${full ? phase2 : ""}
  }
  ${finish}
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
 * @param hasInit whether `init` (b, dIn, N) seeds the first segment.
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
