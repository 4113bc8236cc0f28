/**
 * WGSL pieces shared by the scan shaders: bindings, softplus, SiLU, and the
 * parts of the chunked forward and backward scans that are the same logic.
 *
 * Reference: state-spaces/mamba `csrc/selective_scan/selective_scan_fwd_kernel.cuh`
 * (softplus threshold form replaced by the overflow-free one below).
 *
 * @module
 */

/** One storage binding: its WGSL name and whether the shader writes it. */
export interface Binding {
  name: string;
  write: boolean;
  /** Element type, "f32" unless given (B and C are read as vec4 when N % 4 = 0). */
  type?: "f32" | "vec4<f32>" | "u32";
}

/**
 * Declares storage bindings 0.. in order, then the uniform struct `U` of u32
 * fields after them.
 *
 * @param bindings storage buffers (outputs first by convention).
 * @param uniforms names of the u32 uniform fields.
 * @returns WGSL declarations.
 */
export function declare(bindings: Binding[], uniforms: string[]): string {
  const lines = bindings.map((b, i) =>
    `@group(0) @binding(${i}) var<storage, ${
      b.write ? "read_write" : "read"
    }> ${b.name}: array<${b.type ?? "f32"}>;`
  );
  const fields = uniforms.map((u) => `  ${u}: u32,`).join("\n");
  lines.push(`struct Uniforms {\n${fields}\n};`);
  lines.push(
    `@group(0) @binding(${bindings.length}) var<uniform> U: Uniforms;`,
  );
  return lines.join("\n");
}

/**
 * softplus(x) = max(x, 0) + log1p(exp(-|x|)) with an accurate log1p
 * (Goldberg's trick), its derivative sigmoid, and SiLU with its derivative.
 */
export const MATH = /* wgsl */ `
fn log1p_(x: f32) -> f32 {
  let w = 1.0 + x;
  if (w == 1.0) { return x; }
  return log(w) * x / (w - 1.0);
}
fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log1p_(exp(-abs(x)));
}
fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
fn silu(x: f32) -> f32 { return x * sigmoid(x); }
fn dsilu(x: f32) -> f32 {
  let s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}
`;

/**
 * Unrolled reads of one row of N floats (a row of B or C) into `let`s named
 * `${prefix}0..`, as vec4 loads when `vec4` (the binding is then
 * array<vec4<f32>> and N % 4 = 0).
 *
 * @param name the binding.
 * @param row WGSL expression of the row index (rows of N floats).
 * @param N row length.
 * @param vec4 whether the binding is read as vec4.
 * @param prefix names of the lets.
 * @returns [WGSL of the loads, accessor of element k as WGSL].
 */
export function loadRow(
  name: string,
  row: string,
  N: number,
  vec4: boolean,
  prefix: string,
): [string, (k: number) => string] {
  if (vec4) {
    const q = [...Array(N / 4).keys()];
    return [
      q.map((i) => `let ${prefix}${i} = ${name}[(${row}) * ${N / 4}u + ${i}u];`)
        .join("\n"),
      (k) => `${prefix}${Math.floor(k / 4)}.${"xyzw"[k % 4]}`,
    ];
  }
  const ks = [...Array(N).keys()];
  return [
    ks.map((k) => `let ${prefix}${k} = ${name}[(${row}) * ${N}u + ${k}u];`)
      .join("\n"),
    (k) => `${prefix}${k}`,
  ];
}

/** log2(e): states decay as exp2(Δ' · A·log2 e) with A pre-scaled once. */
export const LOG2E = 1.4426950408889634;

/** @returns `f(0) + "\n" + … + f(n-1)`. */
export function unroll(n: number, f: (k: number) => string): string {
  return [...Array(n).keys()].map(f).join("\n");
}

/**
 * Uniform fields every chunked scan shader (forward and backward) starts
 * with, in order; each shader appends its own.
 */
export const SEGMENT_UNIFORMS = [
  "b",
  "l",
  "dIn",
  "segLen",
  "nseg",
  "nck",
  "K",
];

/**
 * Opening of a chunked scan shader's `main`, shared by forward and backward:
 * a workgroup owns DC channels of batch row `bi` over segment `seg`
 * [g0, g1); thread `lid` owns channel `d` (`ch` within the block, `dc`
 * clamped to the last channel, `dOk` whether it is real) and run `s`. Reads
 * the channel's packed parameters P (dIn, N+2) = [A | D | bias] into `a0..`
 * (A·log2 e), `Dv`, `bias`, and opens the ΣΔ' total `tot`.
 *
 * @param DC channels per workgroup.
 * @param S runs per chunk.
 * @param N state size.
 * @returns WGSL up to and inside `main`'s opening brace.
 */
export function segmentMain(DC: number, S: number, N: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${DC * S})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bi = wid.z;
  let seg = wid.y;
  let d0 = wid.x * ${DC}u;
  let s = lid / ${DC}u;
  let ch = lid % ${DC}u;
  let d = d0 + ch;
  let dOk = d < U.dIn;
  let dc = min(d, U.dIn - 1u);
  let g0 = seg * U.segLen;
  let g1 = min(g0 + U.segLen, U.l);
  let pb = dc * ${N + 2}u;
${unroll(N, (k) => `  let a${k} = P[pb + ${k}u] * ${LOG2E};`)}
  let Dv = P[pb + ${N}u];
  let bias = P[pb + ${N + 1}u];
  var tot = 0.0;`;
}

/** Options of {@linkcode chainRuns}. */
export interface ChainRuns {
  /** Workgroup array of the runs' local results, (N, S, DC). */
  buf: string;
  /** WGSL variable holding the carry, advanced in place. */
  carry: string;
  /** Runs per chunk. */
  S: number;
  /** Channels per workgroup. */
  DC: number;
  /** Walk the runs last to first (the backward's reverse recurrence). */
  reverse: boolean;
  /** Whether threads j < DC add each run's ΣΔ' (sS) to `tot`. */
  total: boolean;
}

/**
 * The carry pass over one chunk's S runs for thread j's (channel cj, state
 * kj), in workgroup memory: each run's local result in `buf` is replaced by
 * the carry entering the run, and the carry steps over the run,
 * carry ← exp2(aj · ΣΔ'_q) · carry + local_q (aj = A·log2 e, ΣΔ'_q in sS).
 *
 * @param o the arrays, sizes and direction.
 * @returns WGSL of the loop.
 */
export function chainRuns(o: ChainRuns): string {
  const { buf, carry, S, DC } = o;
  const loop = o.reverse
    ? `for (var q1 = ${S}u; q1 > 0u; q1 = q1 - 1u) {
        let q = q1 - 1u;`
    : `for (var q = 0u; q < ${S}u; q = q + 1u) {`;
  return /* wgsl */ `
      ${loop}
        let i = kj * ${DC * S}u + q * ${DC}u + cj;
        let loc = ${buf}[i];
        ${buf}[i] = ${carry};
        let ds = sS[q * ${DC}u + cj];
        ${carry} = exp2(aj * ds) * ${carry} + loc;${
    o.total
      ? `
        if (j < ${DC}u) { tot = tot + ds; }`
      : ""
  }
      }`;
}

/**
 * End of a "local" pass (length split across workgroups): writes the
 * carried result sCar of each (channel, state) to `out` (b, nseg, dIn, N)
 * and the segment's ΣΔ' `tot` to ssum (b, nseg, dIn).
 *
 * @param out the output binding.
 * @param DC channels per workgroup.
 * @param S runs per chunk.
 * @param N state size.
 * @returns WGSL.
 */
export function localFinish(
  out: string,
  DC: number,
  S: number,
  N: number,
): string {
  return /* wgsl */ `
  let row = (bi * U.nseg + seg) * U.dIn;
  for (var j = lid; j < ${DC * N}u; j = j + ${DC * S}u) {
    let dj = d0 + j % ${DC}u;
    if (dj < U.dIn) { ${out}[(row + dj) * ${N}u + j / ${DC}u] = sCar[j]; }
  }
  if (lid < ${DC}u && dOk) { ssum[row + d] = tot; }`;
}
