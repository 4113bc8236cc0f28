/**
 * WGSL of the two small reductions after the backward scan: the per-block
 * partials of ∂B, ∂C summed over channel blocks, and the per-(batch,
 * segment) partials of [∂A | ∂D | ∂bias] summed into ∂P. Each thread owns one
 * output and reads its partials with consecutive threads on consecutive
 * addresses.
 *
 * Reference: state-spaces/mamba `selective_scan_bwd_kernel.cuh` (which sums
 * ∂B, ∂C across channels with atomics; WGSL has no float atomics).
 *
 * @module
 */
import { declare } from "./_wgsl_common.ts";
import { groupGrid, type Launch } from "./_dispatch.ts";

/** Uniform fields of {@linkcode reduceBCShader}. */
export const REDUCE_BC_UNIFORMS = ["b", "l", "N", "nblk"];

/**
 * gB, gC (b, l, N) = Σ over blocks of gBC (b, nblk, N, 2, l).
 *
 * @returns WGSL; bindings gB, gC (out), gBC; dispatch (ceil(b·N·l / 256), 1, 1).
 */
export function reduceBCShader(): string {
  return /* wgsl */ `
${
    declare([
      { name: "gB", write: true },
      { name: "gC", write: true },
      { name: "gBC", write: false },
    ], REDUCE_BC_UNIFORMS)
  }
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= U.b * U.N * U.l) { return; }
  let t = i % U.l;
  let n = (i / U.l) % U.N;
  let bi = i / (U.l * U.N);
  var sb = 0.0;
  var sc = 0.0;
  for (var k = 0u; k < U.nblk; k = k + 1u) {
    let base = (((bi * U.nblk + k) * U.N + n) * 2u) * U.l + t;
    sb = sb + gBC[base];
    sc = sc + gBC[base + U.l];
  }
  gB[(bi * U.l + t) * U.N + n] = sb;
  gC[(bi * U.l + t) * U.N + n] = sc;
}
`;
}

/** Uniform fields of {@linkcode reduceRowsShader}. */
export const REDUCE_ROWS_UNIFORMS = ["rows", "cols", "gx"];

/** Threads per workgroup of {@linkcode reduceRowsShader}. */
export const REDUCE_ROWS_THREADS = 256;

/**
 * out (cols) = Σ over rows of x (rows, cols): the scan's per-(batch,
 * segment) ∂P partials, and a split matmul's K slices.
 *
 * @returns WGSL; bindings out, x; uniforms rows, cols, gx; grid
 *   `groupGrid(⌈cols / 256⌉)` (see {@linkcode reduceRowsLaunch}).
 */
export function reduceRowsShader(): string {
  return /* wgsl */ `
${
    declare([
      { name: "out", write: true },
      { name: "x", write: false },
    ], REDUCE_ROWS_UNIFORMS)
  }
@compute @workgroup_size(${REDUCE_ROWS_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * U.gx + wid.x) * ${REDUCE_ROWS_THREADS}u + lid.x;
  if (i >= U.cols) { return; }
  var s = x[i];
  for (var r = 1u; r < U.rows; r = r + 1u) { s = s + x[r * U.cols + i]; }
  out[i] = s;
}
`;
}

/**
 * @param device the device (its grid limit).
 * @param rows rows summed.
 * @param cols row length.
 * @returns the launch of {@linkcode reduceRowsShader}.
 */
export function reduceRowsLaunch(
  device: GPUDevice,
  rows: number,
  cols: number,
): Launch {
  const groups = groupGrid(device, Math.ceil(cols / REDUCE_ROWS_THREADS));
  return {
    key: "mamba_reduce_rows",
    wgsl: reduceRowsShader,
    uniforms: [rows, cols, groups[0]],
    groups,
  };
}
