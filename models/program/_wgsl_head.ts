/**
 * Private: WGSL of the classifier head's ops for the WebGPU executor —
 * mean pooling over the sequence, an elementwise activation, and a softmax
 * over each row — one thread per output element (per row for softmax), over
 * a grid flattened by `gx`.
 *
 * Reference: tfjs-backend-webgpu's unary ops (erf by Abramowitz & Stegun
 * 7.1.26, as there, so GELU matches the tfjs executor).
 *
 * @module
 */
import { groupGrid, type Launch } from "../../kernels/webgpu/_dispatch.ts";
import { declare } from "../../kernels/webgpu/_wgsl_common.ts";

const WG = 256;

const main = (uniforms: string[], body: string) => /* wgsl */ `
${
  declare([{ name: "out", write: true }, { name: "x", write: false }], [
    ...uniforms,
    "gx",
  ])
}
fn erf_as(a: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(a));
  let poly = ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
    - 0.284496736) * t + 0.254829592;
  return sign(a) * (1.0 - poly * t * exp(-a * a));
}
fn sigmoid(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * U.gx + wid.x) * ${WG}u + lid.x;
${body}
}`;

const launch = (
  device: GPUDevice,
  key: string,
  wgsl: () => string,
  threads: number,
  uniforms: number[],
): Launch => {
  const groups = groupGrid(device, Math.ceil(threads / WG));
  return { key, wgsl, uniforms: [...uniforms, groups[0]], groups };
};

/** The activations by DSL name, as WGSL expressions of `v`. */
const ACTIVATIONS: Record<string, string> = {
  none: "v",
  relu: "max(v, 0.0)",
  sigmoid: "sigmoid(v)",
  silu: "v * sigmoid(v)",
  tanh: "tanh(v)",
  gelu: "v * 0.5 * (1.0 + erf_as(v * 0.7071067811865476))",
};

/**
 * out[s, j] = mean over t of x[s, t, j]: x (b, l, d), out (b, d).
 * @returns the launch; bindings out, x.
 */
export function meanPoolLaunch(
  device: GPUDevice,
  b: number,
  l: number,
  d: number,
): Launch {
  return launch(
    device,
    "program_mean_pool",
    () =>
      main(
        ["b", "l", "d"],
        `  if (i >= U.b * U.d) { return; }
  let s = i / U.d;
  let j = i % U.d;
  var sum = 0.0;
  for (var t = 0u; t < U.l; t++) { sum += x[(s * U.l + t) * U.d + j]; }
  out[i] = sum / f32(U.l);`,
      ),
    b * d,
    [b, l, d],
  );
}

/**
 * out = f(x) elementwise, or softmax over rows of `width`.
 * @param fn the activation's DSL name.
 * @returns the launch; bindings out, x.
 * @throws Error for an activation it does not know.
 */
export function activationLaunch(
  device: GPUDevice,
  fn: string,
  size: number,
  width: number,
): Launch {
  if (fn === "softmax") {
    return launch(
      device,
      "program_softmax_rows",
      () =>
        main(
          ["rows", "w"],
          `  if (i >= U.rows) { return; }
  var m = x[i * U.w];
  for (var j = 1u; j < U.w; j++) { m = max(m, x[i * U.w + j]); }
  var sum = 0.0;
  for (var j = 0u; j < U.w; j++) { sum += exp(x[i * U.w + j] - m); }
  for (var j = 0u; j < U.w; j++) { out[i * U.w + j] = exp(x[i * U.w + j] - m) / sum; }`,
        ),
      size / width,
      [size / width, width],
    );
  }
  const expr = ACTIVATIONS[fn];
  if (!expr) {
    throw new Error(`webgpu executor: activate: no WGSL form of "${fn}"`);
  }
  return launch(
    device,
    `program_activate_${fn}`,
    () =>
      main(
        ["n"],
        `  if (i >= U.n) { return; }
  let v = x[i];
  out[i] = ${expr};`,
      ),
    size,
    [size],
  );
}
