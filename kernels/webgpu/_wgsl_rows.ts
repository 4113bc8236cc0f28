/**
 * WGSL of the small row-moving kernels a prebuilt forward needs around the
 * big ones (`infer/gpu_forward.ts`): the embedding gather, the split of
 * x_proj's output into Δ-rank, B and C, the gather of each sequence's last
 * row, and an elementwise add. Every one is one thread per output element
 * over a grid flattened by `gx` (see `groupGrid`); each shader has its
 * `…Launch` (uniforms in the shader's order, grid).
 *
 * @module
 */
import { type Binding, declare } from "./_wgsl_common.ts";
import { groupGrid, type Launch } from "./_dispatch.ts";

/** Threads per workgroup of the row kernels. */
const ROWS_WORKGROUP = 256;

/**
 * A row kernel: the bindings, the uniforms with `gx` appended, and `body`
 * run for the flat element index `i`.
 */
const rowsShader = (
  bindings: Binding[],
  uniforms: string[],
  body: string,
) => /* wgsl */ `
${declare(bindings, [...uniforms, "gx"])}
@compute @workgroup_size(${ROWS_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * U.gx + wid.x) * ${ROWS_WORKGROUP}u + lid.x;
${body}
}`;
const out = (name: string): Binding => ({ name, write: true });
const input = (name: string): Binding => ({ name, write: false });

/**
 * h[t, j] = E[ids[t], j] for t < rows, j < d, with ids clamped to
 * [0, vocab) (ids from a tensor are not checked on the host).
 *
 * Bindings: h (out), E, ids; uniforms rows, d, vocab, gx.
 *
 * @returns WGSL.
 */
function embedRowsShader(): string {
  return rowsShader(
    [out("h"), input("E"), { name: "ids", write: false, type: "u32" }],
    ["rows", "d", "vocab"],
    `  if (i >= U.rows * U.d) { return; }
  let id = min(ids[i / U.d], U.vocab - 1u);
  h[i] = E[id * U.d + i % U.d];`,
  );
}

/**
 * Splits rows of x_proj's output [Δ-rank r | B n | C n] into three
 * contiguous arrays.
 *
 * Bindings: dt (rows, r), B (rows, n), C (rows, n) (outs), dbc; uniforms
 * rows, r, n, gx.
 *
 * @returns WGSL.
 */
function splitDbcShader(): string {
  return rowsShader(
    [out("dt"), out("Bm"), out("Cm"), input("dbc")],
    ["rows", "r", "n"],
    `  let w = U.r + 2u * U.n;
  if (i >= U.rows * w) { return; }
  let row = i / w;
  let c = i % w;
  let v = dbc[i];
  if (c < U.r) {
    dt[row * U.r + c] = v;
  } else if (c < U.r + U.n) {
    Bm[row * U.n + c - U.r] = v;
  } else {
    Cm[row * U.n + c - U.r - U.n] = v;
  }`,
  );
}

/**
 * out[s, j] = x[(s + 1)·l − 1, j]: the last row of each of b sequences of
 * l rows of d floats.
 *
 * Bindings: out, x; uniforms b, l, d, gx.
 *
 * @returns WGSL.
 */
function lastRowsShader(): string {
  return rowsShader(
    [out("out"), input("x")],
    ["b", "l", "d"],
    `  if (i >= U.b * U.d) { return; }
  let s = i / U.d;
  out[i] = x[((s + 1u) * U.l - 1u) * U.d + i % U.d];`,
  );
}

/**
 * out = a + b elementwise.
 *
 * Bindings: out, a, b; uniforms n, gx.
 *
 * @returns WGSL.
 */
function addShader(): string {
  return rowsShader(
    [out("out"), input("a"), input("b")],
    ["n"],
    `  if (i >= U.n) { return; }
  out[i] = a[i] + b[i];`,
  );
}

/** A row kernel's launch: uniforms, then gx; one thread per element. */
function rowsLaunch(
  device: GPUDevice,
  key: string,
  wgsl: () => string,
  threads: number,
  uniforms: number[],
): Launch {
  const groups = groupGrid(device, Math.ceil(threads / ROWS_WORKGROUP));
  return { key, wgsl, uniforms: [...uniforms, groups[0]], groups };
}

/** @returns the launch of {@linkcode embedRowsShader} over rows of d floats. */
export function embedRowsLaunch(
  device: GPUDevice,
  rows: number,
  d: number,
  vocab: number,
): Launch {
  return rowsLaunch(device, "rows_embed", embedRowsShader, rows * d, [
    rows,
    d,
    vocab,
  ]);
}

/** @returns the launch of {@linkcode splitDbcShader} over rows of r + 2n floats. */
export function splitDbcLaunch(
  device: GPUDevice,
  rows: number,
  r: number,
  n: number,
): Launch {
  return rowsLaunch(
    device,
    "rows_split_dbc",
    splitDbcShader,
    rows * (r + 2 * n),
    [rows, r, n],
  );
}

/** @returns the launch of {@linkcode lastRowsShader}. */
export function lastRowsLaunch(
  device: GPUDevice,
  b: number,
  l: number,
  d: number,
): Launch {
  return rowsLaunch(device, "rows_last", lastRowsShader, b * d, [b, l, d]);
}

/** @returns the launch of {@linkcode addShader} over n floats. */
export function addLaunch(device: GPUDevice, n: number): Launch {
  return rowsLaunch(device, "rows_add", addShader, n, [n]);
}
