/**
 * WGSL pieces shared by the scan shaders: bindings, softplus, SiLU.
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
  type?: "f32" | "vec4<f32>";
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
