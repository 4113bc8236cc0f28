/**
 * What the lanes forward's GPU time is made of, at (8, 2048, 1536, 16) by
 * default: the shader as the scan runs it, then variants with one part taken
 * out, and a streaming kernel that moves the same bytes with no scan (the
 * WebGPU bandwidth floor for this shape on this GPU). Only the full variant
 * computes the scan; the others exist to be timed.
 *
 * Variants (each the WGSL of `_wgsl_forward_lanes.ts` with one edit):
 * - full: as dispatched by the scan (fused: Δ bias + softplus, D, SiLU(z));
 * - no softplus: the `softplus` uniform off;
 * - no gate: built without z;
 * - no exp: exp2(Δ'·A) replaced by 1 + Δ'·A (a multiply-add);
 * - no lane sum: the finish reads one lane's share instead of summing SL;
 * - full, adjacent lanes: the `adjacent` layout of the lanes forward;
 * - stream: y = u + Δ + z (reads u, Δ, z, writes y: the big arrays the scan
 *   moves, in one pass).
 *
 * Each variant runs after 400 ms of sustained work (`_gpu_clock.ts`) and is
 * timed with timestamp queries around one compute pass of `--calls`
 * dispatches.
 *
 * Usage: deno run -A bench/scan_ablation_gpu.ts [--shape 8x2048x1536x16]
 *   [--lanes 4x32x8] [--calls 20] [--out bench/results/scan_ablation.json]
 *
 * @module
 */
import parser from "yargs-parser";
import { makeClockProbe } from "./_gpu_clock.ts";
import {
  type LanesConfig,
  lanesShader,
} from "../kernels/webgpu/_wgsl_forward_lanes.ts";

const args = parser(Deno.args, { string: ["shape", "lanes", "out"] });
const [b, l, dIn, N] = String(args.shape ?? "8x2048x1536x16").split("x").map(
  Number,
);
const [SL, DC, T] = String(args.lanes ?? "4x32x8").split("x").map(Number);
const calls = Number(args.calls ?? 20);
const out = String(args.out ?? "bench/results/scan_ablation.json");

const adapter = await navigator.gpu.requestAdapter({
  powerPreference: "high-performance",
});
if (!adapter) throw new Error("scan_ablation_gpu: expected a WebGPU adapter");
const device = await adapter.requestDevice({
  requiredFeatures: ["timestamp-query"],
  requiredLimits: {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBuffersPerShaderStage:
      adapter.limits.maxStorageBuffersPerShaderStage,
  },
});
const probe = makeClockProbe(device)!;

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
/** A buffer of n floats filled with values in [lo, hi). */
function filled(n: number, lo: number, hi: number): GPUBuffer {
  const buf = device.createBuffer({
    size: Math.max(16, 4 * n),
    usage: STORAGE,
  });
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
const y = filled(big, 0, 0);
const hend = filled(b * dIn * N, 0, 0);
const ck = filled(4, 0, 0);
const u = filled(big, -1, 1);
const dl = filled(big, -4, 0);
const z = filled(big, -3, 3);
// P = [A | D | bias] per channel: A in [-8, -0.5], D and bias small.
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
const cfg = (hasZ: boolean, adjacent = false): LanesConfig => ({
  N,
  SL,
  DC,
  T,
  hasZ,
  adjacent,
});
const scanUniforms = (softplus: number) => [
  b,
  l,
  dIn,
  0,
  0,
  softplus,
  0,
  dIn,
  0,
];
const full = lanesShader(cfg(true));
const scanBuffers = [y, hend, ck, u, dl, P, Bm, Cm, z, u];
const groups: [number, number, number] = [Math.ceil(dIn / DC), 1, b];
const noExp = full.replace(/exp2\(dv \* a(\d+)\)/g, "(1.0 + dv * a$1)");
const noSum = full.replace(
  /for \(var q = 0u; q < (\d+)u; q\+\+\) \{ acc \+= sY\[\(tt \* \d+u \+ q\) \* (\d+)u \+ cL\]; \}/g,
  "acc = sY[tt * $1u * $2u + cL];",
);
if (noExp === full || noSum === full) {
  throw new Error("scan_ablation_gpu: a variant's edit did not apply");
}
const STREAM_WG = 256;
const streamGroups = Math.ceil(big / 4 / STREAM_WG);
const variants: Variant[] = [
  {
    name: "full",
    wgsl: full,
    buffers: scanBuffers,
    uniforms: scanUniforms(1),
    groups,
  },
  {
    name: "no softplus",
    wgsl: full,
    buffers: scanBuffers,
    uniforms: scanUniforms(0),
    groups,
  },
  {
    name: "no gate",
    wgsl: lanesShader(cfg(false)),
    buffers: [y, hend, ck, u, dl, P, Bm, Cm, u],
    uniforms: scanUniforms(1),
    groups,
  },
  {
    name: "no exp",
    wgsl: noExp,
    buffers: scanBuffers,
    uniforms: scanUniforms(1),
    groups,
  },
  {
    name: "no lane sum",
    wgsl: noSum,
    buffers: scanBuffers,
    uniforms: scanUniforms(1),
    groups,
  },
  {
    name: "full, adjacent lanes",
    wgsl: lanesShader(cfg(true, true)),
    buffers: scanBuffers,
    uniforms: scanUniforms(1),
    groups,
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
    uniforms: [big / 4, Math.min(streamGroups, 65535)],
    groups: [
      Math.min(streamGroups, 65535),
      Math.ceil(streamGroups / 65535),
      1,
    ],
  },
];

const qs = device.createQuerySet({ type: "timestamp", count: 2 });
const results: { name: string; ms: number; gbps: number; clock: number }[] = [];
for (const v of variants) {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: v.wgsl });
  const pipe = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const data = new Uint32Array(Math.ceil(v.uniforms.length / 4) * 4);
  data.set(v.uniforms);
  const ubuf = device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(ubuf, 0, data);
  const group = device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [...v.buffers, ubuf].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  const error = await device.popErrorScope();
  if (error) throw new Error(`scan_ablation_gpu: ${v.name}: ${error.message}`);
  const run = async (n: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({
      timestampWrites: {
        querySet: qs,
        beginningOfPassWriteIndex: 0,
        endOfPassWriteIndex: 1,
      },
    });
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(...v.groups);
    pass.end();
    const resolve = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.resolveQuerySet(qs, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.destroy();
    resolve.destroy();
    return Number(t[1] - t[0]) / 1e6 / n;
  };
  await run(1); // compile and first touch
  await probe.warm(400);
  const ms = await run(calls);
  const clock = await probe.sample();
  const bytes = 4 * (4 * big + 2 * b * l * N); // u, Δ, z, B, C read; y written
  results.push({ name: v.name, ms, gbps: bytes / ms / 1e6, clock });
  console.log(
    `${v.name.padEnd(24)} ${ms.toFixed(3)} ms  ${
      (bytes / ms / 1e6).toFixed(0)
    } GB/s  clock ${clock.toFixed(2)}`,
  );
}
await Deno.mkdir(out.split("/").slice(0, -1).join("/") || ".", {
  recursive: true,
});
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      adapter: adapter.info.description,
      shape: [b, l, dIn, N],
      lanes: [SL, DC, T],
      results,
    },
    null,
    1,
  ),
);
console.log(`wrote ${out}`);
