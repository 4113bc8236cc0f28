/**
 * Private: WGSL of the Mamba-2 SSD (state-space duality) kernels of
 * `ssd.ts` — the chunked forward as five passes (time steps and their
 * within-chunk cumulative sums; chunk states; state passing between chunks;
 * C·Bᵀ per chunk; the chunk outputs), the one-token step, and the gated
 * RMSNorm. The three matmul-like passes share one tiled loop
 * ({@linkcode tiledMatmul}): 64×64 output tiles, 16-deep slices of the
 * reduction staged in workgroup memory, 4×4 outputs per thread in
 * registers (unrolled).
 *
 * Every exponent is a difference of cumulative sums of Δ'A within one chunk
 * (or such a sum itself), clamped ≤ 0 before `exp`: nothing overflows or
 * underflows to a 0/0 at any length.
 *
 * Layouts (row-major; `b` batch, `l` length, `h` heads, `p` head dim, `g`
 * groups, `n` state size, `Q` chunk size, `nc` chunks, `dIn` = h·p):
 * - x, B, C, dt, z are read in place from the rows of a wider buffer:
 *   element j of row r at `buf[r · stride + offset + j]` (x: h·p wide,
 *   B and C: g·n, dt: h, z: dIn);
 * - P (h, 3) = [A | D | dtBias] per head;
 * - dA (b, h, l, 3) = [Δ' | cumulative Δ'A within the chunk | Δ' ·
 *   exp(Δ'A summed from the step to the chunk's end, exclusive)];
 * - states (b, nc, h, p, n): each chunk's own state, then (after the
 *   passing pass) the state entering it; final (b, h, p, n);
 * - cb (b, nc, g, Q, Q): C_t · B_s within a chunk (s ≤ t);
 * - y (b, l, dIn).
 *
 * Reference: Dao & Gu (2024) §6–7 (`ssd_minimal_discrete`); state-spaces/mamba
 * `ops/triton/ssd_chunk_state.py`, `ssd_state_passing.py`, `ssd_bmm.py`,
 * `ssd_chunk_scan.py` (the same five passes).
 *
 * @module
 */
import { declare, MATH, unroll } from "./_wgsl_common.ts";

/** Output tile of the matmul-like passes: BM × BN, BK deep, TM × TN a thread. */
export const TILE = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 } as const;
/** Padding of a staged tile's rows (k-fast stores hit different banks). */
const PAD = 1;
/** Threads of the matmul-like passes. */
export const TILE_THREADS = (TILE.BM / TILE.TM) * (TILE.BN / TILE.TN);
/** Threads per workgroup of the one-thread-per-item passes. */
export const FLAT_WORKGROUP = 64;
/** Threads per workgroup of the step and the gated norm (one row each). */
export const ROW_WORKGROUP = 64;

/** Uniform fields shared by the forward passes, in order. */
export const SSD_UNIFORMS = [
  "b",
  "l",
  "h",
  "p",
  "g",
  "n",
  "Q",
  "nc",
  "xs",
  "xo",
  "ds",
  "dof",
  "bs",
  "bo",
  "cs",
  "co",
  "lo",
  "hi",
  "hasInit",
  "gx",
];

/** One reduction segment of {@linkcode tiledMatmul}. */
export interface Segment {
  /** WGSL expression of its length (uniform across the workgroup). */
  kEnd: string;
  /** WGSL expression of A(i, k) (lets `i`, `k` in scope; i < M, k < kEnd). */
  loadA: string;
  /** WGSL expression of B(k, j) (lets `k`, `j` in scope; j < N, k < kEnd). */
  loadB: string;
  /** Threads next to each other load next k of A (k is A's contiguous axis). */
  aKFast?: boolean;
  /** Threads next to each other load next k of B. */
  bKFast?: boolean;
}

/**
 * The body of a tiled matmul out(i, j) = Σ_segments Σ_k A(i, k) B(k, j) over
 * the output tile `wid.x`, for i < M, j < N (lets `M`, `N` defined before),
 * then `store` run with lets `i`, `j`, `acc` for each output in range.
 *
 * @param segments the reductions, one after another into the same sums.
 * @param store WGSL of one output's store.
 * @returns WGSL statements for inside `main` (uses `lid`, `wid`).
 */
export function tiledMatmul(segments: Segment[], store: string): string {
  const { BM, BN, BK, TM, TN } = TILE;
  // Thread (ti, tj) owns rows ti + a·RY and columns tj + c·RX (interleaved:
  // a warp's reads of a staged row are contiguous, its stores coalesced).
  const RY = BM / TM, RX = BN / TN;
  const index = (x: string, W: number, kFast = false) =>
    kFast
      ? `let kk = te % ${BK}u; let ${x}${x} = te / ${BK}u;`
      : `let ${x}${x} = te % ${W}u; let kk = te / ${W}u;`;
  const loop = (s: Segment) => /* wgsl */ `
  for (var k0 = 0u; k0 < ${s.kEnd}; k0 = k0 + ${BK}u) {
    for (var te = lid; te < ${BK * BM}u; te = te + ${TILE_THREADS}u) {
      ${index("i", BM, s.aKFast)}
      var v = 0.0;
      if (i0 + ii < M && k0 + kk < ${s.kEnd}) {
        let i = i0 + ii;
        let k = k0 + kk;
        v = ${s.loadA};
      }
      As[kk * ${BM + PAD}u + ii] = v;
    }
    for (var te = lid; te < ${BK * BN}u; te = te + ${TILE_THREADS}u) {
      ${index("j", BN, s.bKFast)}
      var v = 0.0;
      if (j0 + jj < N && k0 + kk < ${s.kEnd}) {
        let j = j0 + jj;
        let k = k0 + kk;
        v = ${s.loadB};
      }
      Bs[kk * ${BN + PAD}u + jj] = v;
    }
    workgroupBarrier();
    for (var kq = 0u; kq < ${BK}u; kq = kq + 1u) {
${
    unroll(TM, (a) =>
      `      let ra${a} = As[kq * ${BM + PAD}u + ti + ${a * RY}u];`)
  }
${
    unroll(TN, (c) =>
      `      let rb${c} = Bs[kq * ${BN + PAD}u + tj + ${c * RX}u];`)
  }
${
    unroll(TM, (a) =>
      unroll(TN, (c) =>
        `      acc${a}_${c} = fma(ra${a}, rb${c}, acc${a}_${c});`))
  }
    }
    workgroupBarrier();
  }`;
  return /* wgsl */ `
  let tilesN = (N + ${BN - 1}u) / ${BN}u;
  let i0 = (wid.x / tilesN) * ${BM}u;
  let j0 = (wid.x % tilesN) * ${BN}u;
  let ti = lid / ${RX}u;
  let tj = lid % ${RX}u;
${unroll(TM, (a) => unroll(TN, (c) => `  var acc${a}_${c} = 0.0;`))}
  ${segments.map(loop).join("\n")}
${
    unroll(TM, (a) =>
      unroll(TN, (c) =>
        `  {
    let i = i0 + ti + ${a * RY}u;
    let j = j0 + tj + ${c * RX}u;
    if (i < M && j < N) {
      let acc = acc${a}_${c};
      ${store}
    }
  }`))
  }`;
}

const TILE_MEMORY = /* wgsl */ `
var<workgroup> As: array<f32, ${TILE.BK * (TILE.BM + PAD)}>;
var<workgroup> Bs: array<f32, ${TILE.BK * (TILE.BN + PAD)}>;`;

const TILE_MAIN = /* wgsl */ `
@compute @workgroup_size(${TILE_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {`;

const out = (name: string) => ({ name, write: true });
const input = (name: string) => ({ name, write: false });

/** Threads of pass 1 (one workgroup per chunk and head, blocks of this many steps). */
export const SCAN_WORKGROUP = 256;

/**
 * Pass 1, one workgroup per (chunk, batch row · head): Δ' = softplus(dt +
 * dtBias) clamped to [lo, hi] (f32 bits); its cumulative Δ'A within the
 * chunk (a workgroup scan over blocks of {@linkcode SCAN_WORKGROUP} steps,
 * carried); each step's Δ' · exp(Δ'A summed after it to the chunk's end).
 *
 * Bindings: dA (out), dt, P; uniforms {@linkcode SSD_UNIFORMS}; grid (nc,
 * b·h).
 */
export function ssdDtShader(): string {
  const W = SCAN_WORKGROUP;
  return /* wgsl */ `
${declare([out("dA"), input("dt"), input("P")], SSD_UNIFORMS)}
${MATH}
var<workgroup> sc: array<f32, ${W}>;
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let bh = wid.y;
  let bi = bh / U.h;
  let hh = bh % U.h;
  let a = P[hh * 3u];
  let bias = P[hh * 3u + 2u];
  let lo = bitcast<f32>(U.lo);
  let hi = bitcast<f32>(U.hi);
  let t0 = c * U.Q;
  let t1 = min(t0 + U.Q, U.l);
  let row = bh * U.l;
  var carry = 0.0;
  for (var base = t0; base < t1; base = base + ${W}u) {
    let t = base + lid;
    var v = 0.0;
    if (t < t1) {
      v = clamp(softplus(dt[(bi * U.l + t) * U.ds + U.dof + hh] + bias), lo, hi);
    }
    sc[lid] = v * a;
    workgroupBarrier();
    for (var off = 1u; off < ${W}u; off = off << 1u) {
      var add = 0.0;
      if (lid >= off) { add = sc[lid - off]; }
      workgroupBarrier();
      sc[lid] = sc[lid] + add;
      workgroupBarrier();
    }
    if (t < t1) {
      dA[(row + t) * 3u] = v;
      dA[(row + t) * 3u + 1u] = min(carry + sc[lid], 0.0);
    }
    carry = min(carry + sc[min(t1 - 1u - base, ${W - 1}u)], 0.0);
    workgroupBarrier();
  }
  for (var t = t0 + lid; t < t1; t = t + ${W}u) {
    let v = dA[(row + t) * 3u];
    dA[(row + t) * 3u + 2u] = v * exp(min(carry - dA[(row + t) * 3u + 1u], 0.0));
  }
}`;
}

/** Lets shared by the per-(batch row, chunk, head) passes. */
const CHUNK_HEAD = /* wgsl */ `
  let c = wid.y;
  let bi = wid.z / U.h;
  let hh = wid.z % U.h;
  let grp = hh / (U.h / U.g);
  let t0 = c * U.Q;
  let Qc = min(U.Q, U.l - t0);
  let dRow = (bi * U.h + hh) * U.l + t0;
  let dIn = U.h * U.p;`;

/**
 * Pass 2, per (batch row, chunk, head) and 64×64 tile of (p, n): the
 * chunk's own state Σ_t Δ'_t exp(Δ'A after t) x_t B_tᵀ.
 *
 * Bindings: states (out), x, dA, B; uniforms {@linkcode SSD_UNIFORMS};
 * grid (tiles, nc, b·h).
 */
export function ssdStatesShader(): string {
  return /* wgsl */ `
${declare([out("states"), input("x"), input("dA"), input("Bm")], SSD_UNIFORMS)}
${TILE_MEMORY}
${TILE_MAIN}
${CHUNK_HEAD}
  let M = U.p;
  let N = U.n;
${
    tiledMatmul(
      [{
        kEnd: "Qc",
        loadA:
          "x[(bi * U.l + t0 + k) * U.xs + U.xo + hh * U.p + i] * dA[(dRow + k) * 3u + 2u]",
        loadB: "Bm[(bi * U.l + t0 + k) * U.bs + U.bo + grp * U.n + j]",
      }],
      "states[(((bi * U.nc + c) * U.h + hh) * U.p + i) * U.n + j] = acc;",
    )
  }
}`;
}

/**
 * Pass 3, one thread per (batch row, head, state element): walks the
 * chunks in order, replacing each chunk's own state by the state entering
 * it (from the initial state or zeros), and writes the final state.
 *
 * Bindings: states (in/out), fin (out), dA, init (any buffer when
 * hasInit is 0); uniforms {@linkcode SSD_UNIFORMS}.
 */
export function ssdPassShader(): string {
  return /* wgsl */ `
${
    declare(
      [out("states"), out("fin"), input("dA"), input("init")],
      SSD_UNIFORMS,
    )
  }
@compute @workgroup_size(${FLAT_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let pn = U.p * U.n;
  let idx = (wid.y * U.gx + wid.x) * ${FLAT_WORKGROUP}u + lid;
  if (idx >= U.b * U.h * pn) { return; }
  let r = idx % pn;
  let bh = idx / pn;
  let bi = bh / U.h;
  let hh = bh % U.h;
  var s = 0.0;
  if (U.hasInit == 1u) { s = init[idx]; }
  for (var c = 0u; c < U.nc; c = c + 1u) {
    let at = ((bi * U.nc + c) * U.h + hh) * pn + r;
    let own = states[at];
    states[at] = s;
    let tLast = min(c * U.Q + U.Q, U.l) - 1u;
    s = exp(min(dA[(bh * U.l + tLast) * 3u + 1u], 0.0)) * s + own;
  }
  fin[idx] = s;
}`;
}

/**
 * Pass 4, per (batch row, chunk, group) and 64×64 tile of (t, s) with
 * s ≤ t: C_t · B_s over the state. Tiles wholly above the diagonal are
 * skipped (pass 5 never reads them).
 *
 * Bindings: cb (out), C, B; uniforms {@linkcode SSD_UNIFORMS}; grid (tiles,
 * nc, b·g).
 */
export function ssdCbShader(): string {
  return /* wgsl */ `
${declare([out("cb"), input("Cm"), input("Bm")], SSD_UNIFORMS)}
${TILE_MEMORY}
${TILE_MAIN}
  let c = wid.y;
  let bi = wid.z / U.g;
  let grp = wid.z % U.g;
  let t0 = c * U.Q;
  let Qc = min(U.Q, U.l - t0);
  let M = Qc;
  let N = Qc;
  let tilesN0 = (N + ${TILE.BN - 1}u) / ${TILE.BN}u;
  if ((wid.x % tilesN0) * ${TILE.BN}u > (wid.x / tilesN0) * ${TILE.BM}u + ${
    TILE.BM - 1
  }u) { return; }
  let base = ((bi * U.nc + c) * U.g + grp) * U.Q * U.Q;
${
    tiledMatmul(
      [{
        kEnd: "U.n",
        loadA: "Cm[(bi * U.l + t0 + i) * U.cs + U.co + grp * U.n + k]",
        loadB: "Bm[(bi * U.l + t0 + j) * U.bs + U.bo + grp * U.n + k]",
        aKFast: true,
        bKFast: true,
      }],
      "cb[base + i * U.Q + j] = acc;",
    )
  }
}`;
}

/**
 * Pass 5, per (batch row, chunk, head) and 64×64 tile of (t, e): y_t =
 * Σ_{s ≤ t} (C_t·B_s) exp(Δ'A from s to t) Δ'_s x_s + exp(Δ'A up to t)
 * C_t · S_in + D x_t, as two reductions (over s, up to the tile's last t;
 * over the state) into the same sums.
 *
 * Bindings: y (out), cb, x, dA, C, states, P; uniforms
 * {@linkcode SSD_UNIFORMS}; grid (tiles, nc, b·h).
 */
export function ssdOutShader(): string {
  return /* wgsl */ `
${
    declare([
      out("y"),
      input("cb"),
      input("x"),
      input("dA"),
      input("Cm"),
      input("states"),
      input("P"),
    ], SSD_UNIFORMS)
  }
${TILE_MEMORY}
${TILE_MAIN}
${CHUNK_HEAD}
  let M = Qc;
  let N = U.p;
  let cbBase = ((bi * U.nc + c) * U.g + grp) * U.Q * U.Q;
  let sBase = ((bi * U.nc + c) * U.h + hh) * U.p * U.n;
  let sEnd = min(Qc, (wid.x / ((N + ${
    TILE.BN - 1
  }u) / ${TILE.BN}u)) * ${TILE.BM}u + ${TILE.BM}u);
${
    tiledMatmul(
      [{
        kEnd: "sEnd",
        loadA:
          "select(0.0, cb[cbBase + i * U.Q + k] * exp(min(dA[(dRow + i) * 3u + 1u] - dA[(dRow + k) * 3u + 1u], 0.0)) * dA[(dRow + k) * 3u], k <= i)",
        loadB: "x[(bi * U.l + t0 + k) * U.xs + U.xo + hh * U.p + j]",
        aKFast: true,
      }, {
        kEnd: "U.n",
        loadA:
          "Cm[(bi * U.l + t0 + i) * U.cs + U.co + grp * U.n + k] * exp(min(dA[(dRow + i) * 3u + 1u], 0.0))",
        loadB: "states[sBase + j * U.n + k]",
        aKFast: true,
        bKFast: true,
      }],
      /* wgsl */ `let xv = x[(bi * U.l + t0 + i) * U.xs + U.xo + hh * U.p + j];
        y[(bi * U.l + t0 + i) * dIn + hh * U.p + j] = acc + P[hh * 3u + 1u] * xv;`,
    )
  }
}`;
}

/** Uniform fields of the step shader, in order. */
export const STEP_UNIFORMS = [
  "b",
  "h",
  "p",
  "g",
  "n",
  "xs",
  "xo",
  "ds",
  "dof",
  "bs",
  "bo",
  "cs",
  "co",
  "gx",
];

const REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, ${ROW_WORKGROUP}>;
fn reduce(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;

/**
 * One token, one workgroup per (batch row, channel of dIn), threads over
 * the state: Δ' = softplus(dt + dtBias) (no clamp: as the official step),
 * s ← exp(Δ'A) s + Δ' x B, y = s·C + D x.
 *
 * Bindings: y (b, dIn) (out), state (b, dIn, n) (out), x, dt, P, B, C,
 * init (b, dIn, n); uniforms {@linkcode STEP_UNIFORMS}.
 */
export function ssdStepShader(): string {
  return /* wgsl */ `
${
    declare([
      out("y"),
      out("state"),
      input("x"),
      input("dt"),
      input("P"),
      input("Bm"),
      input("Cm"),
      input("init"),
    ], STEP_UNIFORMS)
  }
${MATH}
${REDUCE}
@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let dIn = U.h * U.p;
  let row = wid.y * U.gx + wid.x;
  if (row >= U.b * dIn) { return; }
  let bi = row / dIn;
  let r = row % dIn;
  let hh = r / U.p;
  let grp = hh / (U.h / U.g);
  let v = softplus(dt[bi * U.ds + U.dof + hh] + P[hh * 3u + 2u]);
  let decay = exp(min(v * P[hh * 3u], 0.0));
  let xv = x[bi * U.xs + U.xo + r];
  let bRow = bi * U.bs + U.bo + grp * U.n;
  let cRow = bi * U.cs + U.co + grp * U.n;
  var part = 0.0;
  for (var m = lid; m < U.n; m = m + ${ROW_WORKGROUP}u) {
    let at = row * U.n + m;
    let s = decay * init[at] + v * xv * Bm[bRow + m];
    state[at] = s;
    part = fma(s, Cm[cRow + m], part);
  }
  let total = reduce(part, lid);
  if (lid == 0u) { y[row] = total + P[hh * 3u + 1u] * xv; }
}`;
}

/** Uniform fields of the gated norm shader, in order. */
export const GATED_NORM_UNIFORMS = [
  "rows",
  "d",
  "size",
  "ys",
  "yo",
  "zs",
  "zo",
  "eps",
  "gate",
  "hasW",
  "gx",
];

/**
 * Gated RMSNorm, one workgroup per (row, group of `size` channels): v =
 * y · SiLU(z) (v = y when `gate` is 0), out = v / √(mean over the group of
 * v² + eps) · w (no w when `hasW` is 0: Falcon-Mamba's weightless norm).
 *
 * Bindings: o (rows, d) (out), y and z (read in place), w (d); uniforms
 * {@linkcode GATED_NORM_UNIFORMS} (eps as f32 bits). Absent z or w: bind
 * any buffer.
 */
export function gatedNormShader(): string {
  return /* wgsl */ `
${
    declare(
      [out("o"), input("y"), input("z"), input("w")],
      GATED_NORM_UNIFORMS,
    )
  }
${MATH}
${REDUCE}
fn gated(row: u32, j: u32) -> f32 {
  let v = y[row * U.ys + U.yo + j];
  if (U.gate == 0u) { return v; }
  return v * silu(z[row * U.zs + U.zo + j]);
}
@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let groups = U.d / U.size;
  let item = wid.y * U.gx + wid.x;
  if (item >= U.rows * groups) { return; }
  let row = item / groups;
  let j0 = (item % groups) * U.size;
  var ss = 0.0;
  for (var j = lid; j < U.size; j = j + ${ROW_WORKGROUP}u) {
    let v = gated(row, j0 + j);
    ss = fma(v, v, ss);
  }
  let r = inverseSqrt(reduce(ss, lid) / f32(U.size) + bitcast<f32>(U.eps));
  for (var j = lid; j < U.size; j = j + ${ROW_WORKGROUP}u) {
    var wj = 1.0;
    if (U.hasW == 1u) { wj = w[j0 + j]; }
    o[row * U.d + j0 + j] = gated(row, j0 + j) * r * wj;
  }
}`;
}
