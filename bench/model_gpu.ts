/**
 * Whole-model forward on WebGPU: the Mamba-130m shape (24 layers, d 768,
 * d_state 16, vocab 50280, float32, random weights) at (b, l) = (1, 2048) and
 * (8, 512), with the time split into the scan, the matmuls and the rest, each
 * part timed alone on the same shapes (24 layers' worth).
 *
 * Timing: each measurement runs the work `--repeats` times back to back and
 * waits once at the end (a one-element readback), so the ~12 ms submit+wait
 * latency of the H200 machine is paid once, not per call; then `--repeats`
 * times waiting for each (latency). JavaScript issue time, GPU busy time and
 * span (timestamp queries), compute passes and buffers created are reported
 * beside the wall times.
 *
 * Each timed loop follows --warm-ms (default 400) of sustained GPU work, so
 * the GPU runs at its working clock, not the idle clock it drops to between
 * bursts (bench/_gpu_clock.ts); the clock probe is recorded per loop.
 *
 * Usage: deno run -A bench/model_gpu.ts [--backend webgpu] [--repeats 5]
 *        [--warm-ms 400] [--matmul small/1,large/3] (the prebuilt forward
 *        profiled again under these matmul tile/K-split tunings)
 *        [--shapes 1x2048,8x512] [--out bench/results/model_gpu.json]
 *        [--submit-batch 16,64,256] (forwards timed again with tfjs
 *        submitting every N dispatches instead of the project's choice,
 *        kernels/backend.ts)
 *
 * @module
 */
import { matMulTransposed } from "../models/_layers.ts";
import {
  type MatMulTuning,
  setMatMulTuning,
} from "../kernels/webgpu/matmul.ts";
import { type GpuTimer, makeGpuTimer, waitFor } from "./_gpu_timer.ts";
import { makeClockProbe } from "./_gpu_clock.ts";
import parser from "yargs-parser";
import {
  type BackendName,
  setBackend,
  SUBMIT_BATCH,
  tf,
} from "../kernels/backend.ts";
import "../kernels/webgpu/register.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import { buildModel } from "../models/model.ts";
import { GpuForward } from "../infer/gpu_forward.ts";
import { webgpuBackend } from "../kernels/webgpu/_dispatch.ts";
import mamba130m from "../examples/mamba_130m.ts";

const args = parser(Deno.args, { string: ["backend", "shapes", "out"] });
const backend = String(args.backend ?? "webgpu") as BackendName;
const repeats = Number(args.repeats ?? 5);
const shapes = String(args.shapes ?? "1x2048,8x512").split(",").map((s) =>
  s.split("x").map(Number)
);
const out = String(args.out ?? "bench/results/model_gpu.json");
// Forwards timed again with tfjs submitting its command encoder every N
// dispatches (the project picks 16 or 1024 by adapter in kernels/backend.ts).
// Matmul tunings "tile/split" (e.g. small/1, large/3; split 0 = automatic)
// under which the prebuilt forward is profiled again.
const matmulVariants = String(args.matmul ?? "").split(",").filter((x) => x);
const submitBatches = args["submit-batch"] === undefined
  ? []
  : String(args["submit-batch"]).split(",").map(Number);

await setBackend(backend);
const model = buildModel(mamba130m, { seed: 0 });
const layers = model.resolved.layers.length;
const d = model.resolved.dModel, dIn = model.resolved.layers[0].mixer.dInner;
const mixer0 = model.resolved.layers[0].mixer;
if (mixer0.kind !== "mamba") throw new Error("model_gpu: a Mamba-1 model");
const n = mixer0.dState, r = mixer0.dtRankValue;

const gpuDevice = backend === "webgpu" ? webgpuBackend().device : null;
const timer: GpuTimer | null = gpuDevice ? makeGpuTimer(gpuDevice) : null;
// Sustained work before each timed loop, so the GPU runs at its working clock
// (the H200 idles at 345 MHz between bursts: bench/_gpu_clock.ts).
const warmMs = Number(args["warm-ms"] ?? 400);
const probe = gpuDevice && warmMs > 0 ? makeClockProbe(gpuDevice) : null;

interface Timing {
  /** Wall ms per run, `repeats` runs queued, one wait. */
  ms: number;
  /** Wall ms per run when each run is waited for (latency, not throughput). */
  syncedMs: number;
  /** JavaScript ms per run spent issuing the work (tfjs op calls). */
  issueMs: number;
  /** GPU busy ms per run (sum of compute-pass durations), webgpu only. */
  gpuMs: number | null;
  /** GPU ms per run from the first pass's start to the last one's end. */
  spanMs: number | null;
  /** Compute passes per run. */
  passes: number | null;
  /** Buffers created per run (after warm-up) and their MB. */
  created: number;
  createdMB: number;
  /**
   * Clock probe after the warm-up and after the queued runs, then after the
   * second warm-up and after the waited runs, relative to the fastest seen.
   */
  clock: number[] | null;
}

/**
 * Runs `work` `repeats` times back to back, waits once; then `repeats` times
 * waiting for each. Counts buffers created while the queued runs are issued
 * (tfjs's pool should make that zero after the warm-up run).
 */
async function time(work: () => tf.Tensor): Promise<Timing> {
  const warm = tf.tidy(work); // warm-up: pipelines compiled, pool filled
  await waitFor(warm);
  warm.dispose();
  const device = timer ? gpuDevice : null;
  const clock: number[] = [];
  const warmUp = async () => {
    if (probe) clock.push(await probe.warm(warmMs));
  };
  const sample = async () => {
    if (probe) clock.push(await probe.sample());
  };
  await warmUp();
  // Buffers created while the queued runs are issued (not the probe's).
  let created = 0, createdBytes = 0;
  const create = device?.createBuffer;
  if (device) {
    device.createBuffer = (d: GPUBufferDescriptor) => {
      created++;
      createdBytes += d.size;
      return create!.call(device, d);
    };
  }
  timer?.begin();
  const start = performance.now();
  let issue = 0;
  let last: tf.Tensor | null = null;
  for (let i = 0; i < repeats; i++) {
    last?.dispose();
    const t0 = performance.now();
    last = tf.tidy(work);
    issue += performance.now() - t0;
  }
  await waitFor(last!);
  last!.dispose();
  const ms = (performance.now() - start) / repeats;
  const gpu = timer ? await timer.end() : null;
  if (device) device.createBuffer = create!;
  await sample();
  await warmUp();
  let synced = 0;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const y = tf.tidy(work);
    await waitFor(y);
    y.dispose();
    synced += performance.now() - t0;
  }
  await sample();
  const per = (x: number | null) => x === null ? null : x / repeats;
  return {
    ms,
    syncedMs: synced / repeats,
    issueMs: issue / repeats,
    gpuMs: per(gpu),
    spanMs: per(timer?.span() ?? null),
    passes: timer ? timer.passes() / repeats : null,
    created: created / repeats,
    createdMB: createdBytes / repeats / 2 ** 20,
    clock: probe ? clock : null,
  };
}

// The model's own a·Wᵀ (the WGSL matMulNT on webgpu).
const mm = (a: tf.Tensor, w: tf.Tensor) =>
  matMulTransposed(a as tf.Tensor2D, w as tf.Tensor2D);

const rows = [];
/** Prebuilt-forward profiles under other matmul tunings (--matmul). */
const profiles: {
  b: number;
  l: number;
  matmul: string;
  ms: Record<string, number> | null;
}[] = [];
for (const [b, l] of shapes) {
  const ids = tf.tidy(() =>
    tf.randomUniform([b, l], 0, 50280, "int32")
  ) as tf.Tensor2D;
  const forward = await time(() => model.forward(ids));
  // The same forward prebuilt (infer/gpu_forward.ts): no tfjs op per call.
  let prebuilt: Timing | null = null;
  let profile: Record<string, number> | null = null;
  if (backend === "webgpu") {
    const fwd = new GpuForward(model, { batch: b, length: l });
    prebuilt = await time(() => fwd.forward(ids));
    await probe?.warm(warmMs);
    profile = await fwd.profile(ids);
    fwd.dispose();
    for (const v of matmulVariants) {
      const [tile, split] = v.split("/");
      const before = setMatMulTuning({});
      setMatMulTuning({
        tile: tile as MatMulTuning["tile"],
        split: Number(split),
      });
      const f2 = new GpuForward(model, { batch: b, length: l });
      await probe?.warm(warmMs);
      profiles.push({ b, l, matmul: v, ms: await f2.profile(ids) });
      f2.dispose();
      setMatMulTuning(before);
    }
  }
  const bySubmit = [];
  for (const every of submitBatches) {
    const before = tf.env().get(SUBMIT_BATCH);
    tf.env().set(SUBMIT_BATCH, every);
    bySubmit.push({ every, ...await time(() => model.forward(ids)) });
    tf.env().set(SUBMIT_BATCH, before);
  }
  const u = tf.randomNormal([b, l, dIn]) as tf.Tensor3D;
  const delta = tf.randomNormal([b, l, dIn], -4, 0.5) as tf.Tensor3D;
  const A = tf.neg(tf.exp(tf.randomNormal([dIn, n]))) as tf.Tensor2D;
  const B = tf.randomNormal([b, l, n]) as tf.Tensor3D;
  const C = tf.randomNormal([b, l, n]) as tf.Tensor3D;
  const D = tf.ones([dIn]) as tf.Tensor1D;
  const bias = tf.zeros([dIn]) as tf.Tensor1D;
  // Summed into one output so that one tensor is waited on; the sum starts
  // from the first scan (a CPU-built tf.zeros would be uploaded every run).
  const scan = await time(() => {
    let y: tf.Tensor | null = null;
    for (let i = 0; i < layers; i++) {
      const s = selectiveScan({
        u,
        delta,
        A,
        B,
        C,
        D,
        z: u,
        deltaBias: bias,
        deltaSoftplus: true,
      }).y;
      y = y ? tf.add(y, s) : s;
    }
    return y!;
  });
  const x = tf.randomNormal([b * l, d]);
  const w = {
    inP: tf.randomNormal([2 * dIn, d]),
    xP: tf.randomNormal([r + 2 * n, dIn]),
    dtP: tf.randomNormal([dIn, r]),
    outP: tf.randomNormal([d, dIn]),
  };
  const matmul = await time(() => {
    let acc: tf.Tensor | null = null;
    for (let i = 0; i < layers; i++) {
      const xz = mm(x, w.inP); // (b·l, 2·dIn)
      const xi = xz.slice([0, 0], [b * l, dIn]);
      const dbc = mm(xi, w.xP); // (b·l, r+2n)
      const dt = mm(dbc.slice([0, 0], [b * l, r]), w.dtP); // (b·l, dIn)
      const o = mm(tf.add(xi, dt), w.outP); // (b·l, d)
      acc = acc ? tf.add(acc, o) : o;
    }
    return tf.add(
      acc!,
      mm(x, model.params.get("backbone.embeddings.weight")!)
        .slice([0, 0], [b * l, d]),
    ); // + LM head
  });
  tf.dispose([ids, u, delta, A, B, C, D, bias, x, ...Object.values(w)]);
  const gpuOr = (t: Timing) => t.gpuMs ?? t.ms;
  rows.push({
    b,
    l,
    forward,
    prebuilt,
    profile,
    bySubmit,
    scan,
    matmul,
    restGpuMs: gpuOr(forward) - gpuOr(scan) - gpuOr(matmul),
  });
  console.log(JSON.stringify(rows.at(-1)));
}

const f = (x: number | null) => x?.toFixed(1) ?? "—";
console.log(
  `Mamba-130m shape forward on ${backend}, float32, mean of ${repeats}; parts timed alone (GPU busy ms, wall ms in brackets)`,
);
console.log(
  "| b | l | forward wall ms (queued / waited) | JS issue ms | GPU busy ms | GPU span ms | passes | scan ×24 | matmuls (projections + head) | rest (GPU) |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const x of rows) {
  const p = x.forward;
  console.log(
    `| ${x.b} | ${x.l} | ${f(p.ms)} / ${f(p.syncedMs)} | ${f(p.issueMs)} | ${
      f(p.gpuMs)
    } | ${f(p.spanMs)} | ${f(p.passes)} | ${f(x.scan.gpuMs)} (${
      f(x.scan.ms)
    }) | ${f(x.matmul.gpuMs)} (${f(x.matmul.ms)}) | ${f(x.restGpuMs)} |`,
  );
}
if (rows.some((x) => x.prebuilt)) {
  console.log(
    "\nPrebuilt forward (infer/gpu_forward.ts), same shapes and weights:",
  );
  console.log(
    "| b | l | forward wall ms (queued / waited) | JS issue ms | GPU busy ms | GPU ms per kind of dispatch (one pass each) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const x of rows) {
    const p = x.prebuilt;
    if (!p) continue;
    const kinds = Object.entries(x.profile ?? {}).map(([k, v]) =>
      `${k} ${v.toFixed(2)}`
    ).join(", ");
    console.log(
      `| ${x.b} | ${x.l} | ${f(p.ms)} / ${f(p.syncedMs)} | ${f(p.issueMs)} | ${
        f(p.gpuMs)
      } | ${kinds} |`,
    );
  }
}
if (profiles.length) {
  console.log("\nPrebuilt forward profiled under other matmul tunings:");
  for (const p of profiles) {
    console.log(
      `| ${p.b} | ${p.l} | ${p.matmul} | ${
        Object.entries(p.ms ?? {}).map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(", ")
      } |`,
    );
  }
}
if (submitBatches.length) {
  console.log(
    "\n| b | l | submit every N dispatches | forward wall ms (queued / waited) | JS issue ms | GPU busy ms |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const x of rows) {
    for (const t of x.bySubmit) {
      console.log(
        `| ${x.b} | ${x.l} | ${t.every} | ${f(t.ms)} / ${f(t.syncedMs)} | ${
          f(t.issueMs)
        } | ${f(t.gpuMs)} |`,
      );
    }
  }
}
await Deno.writeTextFile(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), backend, repeats, rows, profiles },
    null,
    2,
  ),
);
console.log(`wrote ${out}`);
