/**
 * What the lanes forward's GPU time is made of, at (8, 2048, 1536, 16) by
 * default: the shader as the scan dispatches it, then variants with one part
 * taken out, the other lanes layout, and a streaming kernel that moves the
 * same big arrays with no scan (the WebGPU bandwidth floor for this shape on
 * this GPU). Only the full variants compute the scan; the others exist to be
 * timed.
 *
 * Variants (each the WGSL of `_wgsl_forward_lanes.ts` with one edit):
 * - full: fused (Δ bias + softplus, D, SiLU(z)), layout `--layout`;
 * - no softplus: the `softplus` uniform off;
 * - no gate: built without z;
 * - no exp: exp2(Δ'·A) replaced by 1 + Δ'·A (a multiply-add);
 * - no lane sum: the finish reads one lane's share instead of summing SL;
 * - full, the other layout (adjacent ↔ strided lanes);
 * - stream: y = u + Δ + z (reads u, Δ, z, writes y in one pass).
 *
 * Each variant runs after 400 ms of sustained work (`_gpu_clock.ts`) and is
 * timed (`_gpu_timer.ts`) over one compute pass of `--calls` dispatches.
 * Defaults are the scan's: adjacent lanes, 4 lanes × 16 channels × 16 steps.
 * The fifth session's first ablation used `--layout strided --lanes 4x32x8`
 * and `--layout strided --lanes 4x16x16` (BENCHMARKS.md).
 *
 * Usage: deno run -A bench/scan_ablation_gpu.ts [--shape 8x2048x1536x16]
 *   [--lanes 4x16x16] [--layout adjacent|strided] [--calls 20]
 *   [--out bench/results/scan_ablation.json]
 *
 * @module
 */
import { dirname } from "node:path";
import parser from "yargs-parser";
import { setBackend } from "../kernels/backend.ts";
import {
  bindGroup,
  groupGrid,
  pipeline,
  uniformWords,
  webgpuBackend,
} from "../kernels/webgpu/_dispatch.ts";
import {
  scanForwardPlan,
  setScanTuning,
} from "../kernels/webgpu/scan_kernels.ts";
import { makeClockProbe } from "./_gpu_clock.ts";
import { makeGpuTimer } from "./_gpu_timer.ts";

const args = parser(Deno.args, { string: ["shape", "lanes", "layout", "out"] });
const [b, l, dIn, N] = String(args.shape ?? "8x2048x1536x16").split("x").map(
  Number,
);
const [SL, DC, T] = String(args.lanes ?? "4x16x16").split("x").map(Number);
const layout = String(args.layout ?? "adjacent");
if (layout !== "adjacent" && layout !== "strided") {
  throw new Error(
    `scan_ablation_gpu: --layout: expected adjacent or strided, received ${layout}`,
  );
}
const adjacent = layout === "adjacent";
const calls = Number(args.calls ?? 20);
const out = String(args.out ?? "bench/results/scan_ablation.json");

await setBackend("webgpu");
const device = webgpuBackend().device;
const probe = makeClockProbe(device);
const timer = makeGpuTimer(device);
if (!probe || !timer) {
  throw new Error("scan_ablation_gpu: expected the timestamp-query feature");
}

/** A buffer of n floats (zeros, as WebGPU creates them). */
const zeros = (n: number) =>
  device.createBuffer({
    size: Math.max(16, 4 * n),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
/** A buffer of n floats filled with values in [lo, hi). */
function filled(n: number, lo: number, hi: number): GPUBuffer {
  const buf = zeros(n);
  const chunk = 1 << 22;
  for (let at = 0; at < n; at += chunk) {
    const len = Math.min(chunk, n - at);
    const v = new Float32Array(len);
    for (let i = 0; i < len; i++) v[i] = lo + (hi - lo) * Math.random();
    device.queue.writeBuffer(buf, 4 * at, v);
  }
  return buf;
}
const big = b * l * dIn;
const y = zeros(big);
const hend = zeros(b * dIn * N);
const ck = zeros(4);
const u = filled(big, -1, 1);
const dl = filled(big, -4, 0);
const z = filled(big, -3, 3);
// P = [A | D | bias] per channel, all in [-8, -0.5] (any finite values time
// the same).
const P = filled(dIn * (N + 2), -8, -0.5);
const Bm = filled(b * l * N, -1, 1);
const Cm = filled(b * l * N, -1, 1);

interface Variant {
  name: string;
  wgsl: string;
  buffers: GPUBuffer[];
  uniforms: number[];
  groups: [number, number, number];
}
// The scan's own lanes launch for these lanes (uniforms, grid, buffer order,
// and the config's checks), so the variants bind exactly what the scan does.
const named: Record<string, GPUBuffer> = {
  y,
  hend,
  ckUnused: ck,
  u,
  dl,
  P,
  B: Bm,
  C: Cm,
  z,
};
const planned = (hasZ: boolean, adj = adjacent, softplus = true) => {
  setScanTuning({
    fwdKernel: "lanes",
    lanesPerChannel: SL,
    lanesChannels: DC,
    lanesTile: T,
    lanesAdjacent: adj,
  });
  const [{ launch, buffers }] = scanForwardPlan(device, {
    b,
    l,
    dIn,
    N,
    hasZ,
    softplus,
    hasInit: false,
    K: 0,
  }).steps;
  return {
    wgsl: launch.wgsl(),
    buffers: buffers.map((name) => named[name]),
    uniforms: launch.uniforms,
    groups: launch.groups,
  };
};
const full = planned(true).wgsl;
const noExp = full.replace(/exp2\(dv \* a(\d+)\)/g, "(1.0 + dv * a$1)");
const noSum = adjacent
  ? full.replace(/let acc = [^;]+;/g, "let acc = v.x;")
  : full.replace(
    /for \(var q = 0u; q < (\d+)u; q\+\+\) \{ acc \+= sY\[\(tt \* \d+u \+ q\) \* (\d+)u \+ cL\]; \}/g,
    "acc = sY[tt * $1u * $2u + cL];",
  );
if (noExp === full || noSum === full) {
  throw new Error("scan_ablation_gpu: a variant's edit did not apply");
}
/** The fused lanes launch with its shader replaced by `wgsl`. */
const scan = (name: string, wgsl: string): Variant => ({
  ...planned(true),
  name,
  wgsl,
});
const STREAM_WG = 256;
const streamGrid = groupGrid(device, Math.ceil(big / 4 / STREAM_WG));
const variants: Variant[] = [
  scan(`full (${layout} lanes)`, full),
  { ...planned(true, adjacent, false), name: "no softplus" },
  { ...planned(false), name: "no gate" },
  scan("no exp", noExp),
  scan("no lane sum", noSum),
  {
    ...planned(true, !adjacent),
    name: `full (${adjacent ? "strided" : "adjacent"} lanes)`,
  },
  {
    name: "stream (u + Δ + z → y)",
    wgsl: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dl: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> z: array<vec4<f32>>;
struct Uniforms { n: u32, gx: u32 };
@group(0) @binding(4) var<uniform> U: Uniforms;
@compute @workgroup_size(${STREAM_WG})
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let k = (w.y * U.gx + w.x) * ${STREAM_WG}u + i;
  if (k < U.n) { y[k] = u[k] + dl[k] + z[k]; }
}`,
    buffers: [y, u, dl, z],
    uniforms: [big / 4, streamGrid[0]],
    groups: streamGrid,
  },
];

const results: { name: string; ms: number; gbps: number; clock: number }[] = [];
const bytes = 4 * (4 * big + 2 * b * l * N); // u, Δ, z, B, C read; y written
for (const [i, v] of variants.entries()) {
  const pipe = pipeline(device, `scan_ablation_${layout}_${i}`, () => v.wgsl);
  const ubuf = device.createBuffer({
    size: uniformWords(v.uniforms).byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(ubuf, 0, uniformWords(v.uniforms));
  const group = bindGroup(device, pipe, [...v.buffers, ubuf]);
  /** GPU ms per dispatch over n dispatches in one pass. */
  const run = async (n: number) => {
    timer.begin();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    for (let k = 0; k < n; k++) pass.dispatchWorkgroups(...v.groups);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (await timer.end())! / n;
  };
  await run(1); // compile and first touch
  await probe.warm(400);
  const ms = await run(calls);
  const clock = await probe.sample();
  results.push({ name: v.name, ms, gbps: bytes / ms / 1e6, clock });
  console.log(
    `${v.name.padEnd(26)} ${ms.toFixed(3)} ms  ${
      (bytes / ms / 1e6).toFixed(0)
    } GB/s  clock ${clock.toFixed(2)}`,
  );
}
await Deno.mkdir(dirname(out), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      shape: [b, l, dIn, N],
      lanes: [SL, DC, T],
      layout,
      results,
    },
    null,
    1,
  ),
);
console.log(`wrote ${out}`);
