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
    }> ${b.name}: array<f32>;`
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
