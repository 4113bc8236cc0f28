/**
 * GPU time of the WGSL selective scan (forward, forward+backward, decode
 * step) on the shapes of issue 4, against the official CUDA kernel's times
 * measured on the same H200 (../shared/gpu/README.md).
 *
 * Two numbers per row:
 * - gpuMs: GPU busy time per call from `timestamp-query` (every compute pass
 *   tfjs or the scan opens is given begin/end timestamps; their durations are
 *   summed over R calls, divided by R). Includes tfjs's own small ops (the
 *   pack of P, tf.grads glue), not the gaps between passes.
 * - wallMs: throughput per call with R calls queued and one readback:
 *   (wall(R) − wall(R/4)) / (R − R/4), so the submit/readback latency
 *   cancels; includes tfjs's per-call CPU work when that is the bottleneck.
 * R is chosen per row from one warm call (≈ 150 ms of work, 4..60 calls).
 *
 * Order: every shape's default forward and forward+backward first, then the
 * decode step, then tuning variants on (8, 2048, 1536, 16); a row is
 * appended to the JSON file as soon as it is measured, and variants stop
 * after --budget seconds (default 120).
 *
 * Every timed run follows --warm-ms (default 400) of sustained work, so the
 * GPU runs at its working clock, not the idle clock it drops to between
 * bursts (bench/_gpu_clock.ts); the row records the clock probe after the
 * warm-up and after the run.
 *
 * Usage: deno run -A bench/scan_gpu.ts [--out bench/results/scan_gpu.json]
 *   [--warm-ms 400]
 *   [--quick] [--budget 120] [--fwd 16x16x8,32x8x8] [--bwd 16x8x8,32x4x8]
 *   [--kernels chunked,lanes] [--lanes 4x64x8,8x32x8] [--reps 3]
 *   [--min-workgroups 1,256,1024] [--forward-only] [--profile-backward]
 *   [--shapes 0,3]
 *   (--fwd/--bwd: channels x runs x steps variants of the chunked kernels to
 *   sweep on the first shape; --kernels: forward kernels timed on every
 *   shape, side by side, --reps times in alternation (0: only the
 *   variants of step 4) (the lent GPU is
 *   shared and its timings drift by up to 3× within a run, so the summary
 *   gives each kernel's best and median); --lanes: lanes-per-channel x channels x tile-steps
 *   variants of the lanes forward on the first shape; --min-workgroups:
 *   length-split thresholds of the chunked forward on the batch-1 shapes
 *   (1: no split); --shapes: rows of the shape table to run (by index;
 *   variants run on the first of them); --quick: one small
 *   shape and the tests' small launch shapes, for llvmpipe)
 *
 * Reference: issue 4 (bench table); state-spaces/mamba benchmarks.
 *
 * @module
 */
import { dirname } from "node:path";
import { setBackend, SUBMIT_BATCH, tf } from "../kernels/backend.ts";
import {
  GRAD_OF,
  referenceScan,
  referenceScanGrad,
} from "../kernels/scan_reference.ts";
import { SCAN_INPUT_NAMES } from "../kernels/scan_types.ts";
import { relErr } from "../kernels/webgpu/_test_util.ts";
import {
  type ScanTuning,
  setScanTuning,
  SOFTWARE_TUNING,
} from "../kernels/webgpu/scan_kernels.ts";
import {
  webgpuScanStep,
  webgpuSelectiveScan,
} from "../kernels/webgpu/selective_scan_webgpu.ts";
import { type GpuTimer, makeGpuTimer, waitFor } from "./_gpu_timer.ts";
import { makeClockProbe } from "./_gpu_clock.ts";

const args = Deno.args;
const arg = (name: string, def: string) =>
  args.includes(name) ? args[args.indexOf(name) + 1] : def;
const outPath = arg("--out", "bench/results/scan_gpu.json");
const quick = args.includes("--quick");
const budgetS = Number(arg("--budget", quick ? "1e9" : "120"));
const parseVariants = (s: string) =>
  s.split(",").filter((x) => x).map((v) => v.split("x").map(Number));
const fwdVariants = parseVariants(
  arg("--fwd", quick ? "" : "32x8x8,8x32x8,16x16x16,16x8x16"),
);
const bwdVariants = parseVariants(
  arg("--bwd", quick ? "" : "32x4x8,8x16x8,16x4x16"),
);
const lanesVariants = parseVariants(
  arg("--lanes", quick ? "" : "4x32x8,4x64x16,8x32x8,2x128x8,16x16x8"),
);
const reps = Number(arg("--reps", quick ? "1" : "3"));
// Skip the forward+backward rows (minutes at the big shapes).
const forwardOnly = args.includes("--forward-only");
const profileBackward = args.includes("--profile-backward");
const minWorkgroupsVariants = arg("--min-workgroups", quick ? "" : "1,256,1024")
  .split(",").filter((x) => x).map(Number);
const fwdKernels = arg("--kernels", "chunked,lanes").split(",") as ScanTuning[
  "fwdKernel"
][];
// Sustained work before each timed run, so the GPU is at its working clock
// (the H200 idles at 345 MHz between bursts: bench/_gpu_clock.ts).
const warmMs = Number(arg("--warm-ms", quick ? "0" : "400"));
const start = performance.now();
const elapsed = () => (performance.now() - start) / 1000;

await setBackend("webgpu");
const backend = tf.backend() as unknown as {
  device: GPUDevice;
  adapterInfo?: unknown;
};
const adapter = backend.adapterInfo;
console.log("adapter:", JSON.stringify(adapter));
const timer: GpuTimer | null = makeGpuTimer(backend.device);
const probe = warmMs > 0 ? makeClockProbe(backend.device) : null;
console.log("timestamp-query:", timer ? "yes" : "no (gpuMs will be null)");
// --quick (llvmpipe): the tests' small launch shapes, whose shaders compile
// in seconds there and are likely in Mesa's shader cache already.
const defaults = setScanTuning(quick ? SOFTWARE_TUNING : "defaults");

/** [b, l, dIn, n, official forward ms]. */
const ALL_SHAPES: [number, number, number, number, number][] = quick
  ? [[2, 256, 64, 16, 0.125]]
  : [
    [8, 2048, 1536, 16, 0.845],
    [1, 2048, 1536, 16, 0.125],
    [1, 8192, 5120, 16, 1.515],
    [16, 4096, 2048, 16, 4.345],
  ];
// --shapes 0,3: only those rows of the table (the first is the variants').
const SHAPES = args.includes("--shapes")
  ? String(arg("--shapes", "")).split(",").map((i) => {
    const row = ALL_SHAPES[Number(i)];
    if (!/^\d+$/.test(i) || !row) {
      throw new Error(
        `--shapes: expected row numbers 0 to ${
          ALL_SHAPES.length - 1
        } separated by commas, received "${arg("--shapes", "")}"`,
      );
    }
    return row;
  })
  : ALL_SHAPES;

interface Row {
  what: string;
  shape: number[];
  gpuMs: number | null;
  wallMs: number;
  calls: number;
  /** Clock probe after the warm-up and after the run, relative to the fastest seen. */
  clock: number[] | null;
  gbps: number | null;
  officialMs: number | null;
  officialOverOurs: number | null;
  tuning: Partial<ScanTuning>;
  elapsedS: number;
}
const rows: Row[] = [];
/** --profile-backward: per-pass GPU ms of one forward+backward, by shape. */
const profiles: Record<string, { ms: number; kernels: string[] }[]> = {};
const save = async () => {
  await Deno.mkdir(dirname(outPath), { recursive: true });
  await Deno.writeTextFile(
    outPath,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        adapter,
        defaults,
        checks,
        rows,
        profiles,
      },
      null,
      2,
    ),
  );
};

/** Queues r calls of fn, waits; returns [wall ms, GPU ms or null]. */
async function run(
  fn: () => tf.Tensor,
  r: number,
): Promise<[number, number | null]> {
  timer?.begin();
  const t0 = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < r; i++) {
    last?.dispose();
    last = fn();
  }
  await waitFor(last!);
  last!.dispose();
  const wall = performance.now() - t0;
  return [wall, timer ? await timer.end() : null];
}

/** Per-call GPU and wall ms of fn. */
async function measure(
  fn: () => tf.Tensor,
): Promise<
  {
    gpuMs: number | null;
    wallMs: number;
    calls: number;
    clock: number[] | null;
  }
> {
  await run(fn, 1); // compile
  const [w1] = await run(fn, 1);
  const r = Math.max(4, Math.min(60, Math.round(150 / Math.max(w1, 0.1))));
  const r1 = Math.max(1, Math.floor(r / 4));
  const before = await probe?.warm(warmMs);
  const [a] = await run(fn, r1);
  const [b, g] = await run(fn, r);
  const after = await probe?.sample();
  return {
    gpuMs: g === null ? null : g / r,
    wallMs: (b - a) / (r - r1),
    calls: r,
    clock: probe ? [before!, after!] : null,
  };
}

/**
 * A random (b, l, dIn) tensor: one random (l, dIn) sequence repeated over
 * the batch. tfjs draws random numbers on the CPU, and at (16, 4096, 2048)
 * drawing every element took about a minute of device time per set of
 * inputs; the kernels' work does not depend on the values.
 */
function batchRandom(
  b: number,
  l: number,
  dIn: number,
  lo: number,
  hi: number,
) {
  return tf.tidy(() =>
    tf.tile(tf.randomUniform([1, l, dIn], lo, hi), [b, 1, 1])
  ) as tf.Tensor3D;
}

/**
 * Random scan inputs; the (b, l, dIn) ones repeated over the batch
 * ({@linkcode batchRandom}) unless `distinctRows` (the correctness check,
 * where a kernel reading another batch row's u, Δ or z must fail).
 */
function inputs(
  b: number,
  l: number,
  dIn: number,
  n: number,
  fused: boolean,
  distinctRows = false,
) {
  const seq = (lo: number, hi: number) =>
    distinctRows
      ? tf.randomUniform([b, l, dIn], lo, hi) as tf.Tensor3D
      : batchRandom(b, l, dIn, lo, hi);
  return {
    u: seq(-1, 1),
    delta: seq(fused ? -4 : 0.001, fused ? 0 : 0.1),
    A: tf.neg(tf.randomUniform([dIn, n], 0.5, 8)) as tf.Tensor2D,
    B: tf.randomUniform([b, l, n], -1, 1) as tf.Tensor3D,
    C: tf.randomUniform([b, l, n], -1, 1) as tf.Tensor3D,
    ...(fused
      ? {
        D: tf.randomUniform([dIn], -1, 1) as tf.Tensor1D,
        z: seq(-3, 3),
        deltaBias: tf.randomUniform([dIn], -2, 0) as tf.Tensor1D,
        deltaSoftplus: true,
      }
      : {}),
  };
}
type Inputs = ReturnType<typeof inputs>;
const disposeInputs = (x: Inputs) =>
  tf.dispose(
    Object.values(x).filter((v) => v instanceof tf.Tensor) as tf.Tensor[],
  );

/** Minimal bytes moved by the forward (read u, Δ, [z], B, C; write y). */
function fwdBytes(b: number, l: number, dIn: number, n: number, z: boolean) {
  return 4 * (b * l * dIn * (3 + (z ? 1 : 0)) + 2 * b * l * n);
}
/** Minimal bytes of forward + backward (fused). */
function fwdBwdBytes(b: number, l: number, dIn: number, n: number) {
  // backward: read u, Δ, z, gy, B, C; write gu, gΔ, gz, gB, gC
  return fwdBytes(b, l, dIn, n, true) + 4 * (b * l * dIn * 7 + 4 * b * l * n);
}

async function record(
  what: string,
  shape: number[],
  fn: () => tf.Tensor,
  bytes: number,
  official: number | null,
  t: Partial<ScanTuning> = {},
): Promise<void> {
  setScanTuning({ ...defaults, ...t });
  const m = await measure(fn);
  setScanTuning(defaults);
  const ms = m.gpuMs ?? m.wallMs;
  const row: Row = {
    what,
    shape,
    ...m,
    gbps: bytes / ms / 1e6,
    officialMs: official,
    officialOverOurs: official ? official / ms : null,
    tuning: t,
    elapsedS: elapsed(),
  };
  rows.push(row);
  console.log(
    `${what} [${shape}] ${JSON.stringify(t)}: gpu ${
      m.gpuMs?.toFixed(3) ?? "—"
    } ms, wall ${m.wallMs.toFixed(3)} ms (${m.calls} calls${
      m.clock ? `, clock ${m.clock.map((c) => c.toFixed(2)).join("→")}` : ""
    }), ${row.gbps!.toFixed(0)} GB/s${
      official ? `, official/ours ${row.officialOverOurs!.toFixed(2)}×` : ""
    }  [${elapsed().toFixed(0)} s]`,
  );
  await save();
}

const fwd = (x: Inputs) => () => webgpuSelectiveScan(x).y;

type InputName = (typeof SCAN_INPUT_NAMES)[number];
/**
 * The inputs that get a gradient (all but the initial state, not given
 * here), in the order of {@linkcode scanGrads}.
 */
const GRAD_NAMES = SCAN_INPUT_NAMES.filter(
  (k): k is Exclude<InputName, "initialState"> => k !== "initialState",
);

/**
 * The 8 gradients of Σ y·w, taken as the gradients of y with dy = w: the same
 * numbers, without differentiating a `tf.sum`, whose tfjs gradient builds
 * `ones(y.shape)` on the CPU and uploads it on every call. In Deno each upload
 * maps a fresh staging buffer and costs far more than its size suggests; it is
 * the likely cause of the 5.1 s wall against 115 ms of GPU time per call at
 * (8, 2048, 1536, 16) on the H200 (bench/results/scan_gpu_h200.json, measured
 * before this change).
 */
function scanGrads(x: Inputs, dy: tf.Tensor): tf.Tensor[] {
  const names = GRAD_NAMES;
  return tf.grads((...xs: tf.Tensor[]) => {
    const m = Object.fromEntries(names.map((k, i) => [k, xs[i]]));
    return webgpuSelectiveScan({ ...m, deltaSoftplus: true } as never).y;
  })(names.map((k) => x[k] as tf.Tensor), dy);
}

/**
 * The 8 gradients of Σ y·w, then one element of each added (a scalar to
 * sync on). Not a sum over each gradient: tfjs's WebGPU reduction to one
 * value runs in a single workgroup, about 20 ms per 100 MB on the H200, and
 * it made up nearly all of this row's time until the sixth session
 * (BENCHMARKS.md).
 */
function fwdBwd(x: Inputs, w: tf.Tensor) {
  return () =>
    tf.tidy(() =>
      tf.addN(scanGrads(x, w).map((t) => t.reshape([-1]).slice(0, 1)))
    );
}

// 1. correctness on this GPU at the default launch shapes (the llvmpipe
// tests use small ones): forward split and not, every gradient.
const checks: Record<string, number> = {};
{
  const [b, l, dIn, n] = [2, 300, 200, 16];
  const x = inputs(b, l, dIn, n, true, true);
  const names = GRAD_NAMES;
  const p = Object.fromEntries(
    await Promise.all(names.map(async (k) => [k, await x[k]!.data()])),
  );
  const ref = { b, l, dIn, n, ...p, deltaSoftplus: true } as never;
  const want = referenceScan(ref);
  for (
    const [segLen, fwdKernel] of [[0, "chunked"], [1, "chunked"], [
      0,
      "lanes",
    ]] as const
  ) {
    const tag = fwdKernel === "lanes" ? "lanes forward" : `segLen=${segLen}`;
    setScanTuning({ segLen, backwardSegLen: segLen, fwdKernel });
    const { y } = webgpuSelectiveScan(x);
    checks[`forward ${tag}`] = relErr(await y.data(), want.y);
    y.dispose();
    const gy = tf.randomUniform([b, l, dIn], -1, 1);
    const got = scanGrads(x, gy);
    const wantG = referenceScanGrad(ref, await gy.data()) as unknown as Record<
      string,
      Float64Array
    >;
    for (let i = 0; i < names.length; i++) {
      checks[`grad ${names[i]} ${tag}`] = relErr(
        await got[i].data(),
        wantG[GRAD_OF[names[i]]],
      );
    }
    tf.dispose([...got, gy]);
  }
  setScanTuning(defaults);
  disposeInputs(x);
  console.log("rel err vs float64 oracle (want ≤ 1e-5 forward, ≤ 1e-4 grads):");
  console.log(JSON.stringify(checks, null, 1));
}

// 2. every shape, default tuning, each forward kernel side by side: forward
// plain, fused, forward+backward.
for (const [b, l, dIn, n, official] of reps > 0 ? SHAPES : []) {
  const shape = [b, l, dIn, n];
  for (const fused of [false, true]) {
    const x = inputs(b, l, dIn, n, fused);
    const w = fused ? batchRandom(b, l, dIn, -1, 1) : null;
    for (let rep = 0; rep < reps; rep++) {
      for (const fwdKernel of fwdKernels) {
        await record(
          `forward ${fused ? "fused (D, z, Δ bias+softplus)" : "plain"}`,
          shape,
          fwd(x),
          fwdBytes(b, l, dIn, n, fused),
          official,
          { fwdKernel },
        );
      }
    }
    for (const fwdKernel of w && !forwardOnly ? fwdKernels : []) {
      await record(
        "forward+backward fused (tf.grads, 8 grads)",
        shape,
        fwdBwd(x, w!),
        fwdBwdBytes(b, l, dIn, n),
        null,
        { fwdKernel },
      );
    }
    w?.dispose();
    disposeInputs(x);
  }
}

// 2b. --profile-backward: the GPU ms of every pass of one forward+backward
// call at each shape (which pass the time goes to).
for (const [b, l, dIn, n] of profileBackward ? SHAPES : []) {
  const x = inputs(b, l, dIn, n, true);
  const w = batchRandom(b, l, dIn, -1, 1);
  const f = fwdBwd(x, w);
  const first = f(); // compile
  await waitFor(first);
  first.dispose();
  // One dispatch per pass, so each pass is one kernel.
  const batch = tf.env().get(SUBMIT_BATCH);
  tf.env().set(SUBMIT_BATCH, 1);
  await probe?.warm(warmMs);
  timer?.begin();
  const out = f();
  await waitFor(out);
  out.dispose();
  const total = await timer?.end();
  tf.env().set(SUBMIT_BATCH, batch);
  const ms = timer?.durations() ?? [];
  const labels = timer?.labels() ?? [];
  const passes = ms.map((d, i) => ({ ms: d, kernels: labels[i] ?? [] }));
  profiles[[b, l, dIn, n].join("x")] = passes;
  console.log(
    `forward+backward passes [${b}, ${l}, ${dIn}, ${n}]: ${
      total?.toFixed(3)
    } ms in ${passes.length}:\n${
      passes.map((p) => `  ${p.ms.toFixed(3)} ${p.kernels.join(", ")}`).join(
        "\n",
      )
    }`,
  );
  await save();
  w.dispose();
  disposeInputs(x);
}

// 3. decode step
if (reps > 0) {
  const [b, dIn, n] = [1, 1536, 16];
  const r = (s: number[]) => tf.randomUniform(s, -1, 1);
  const st = {
    u: r([b, dIn]) as tf.Tensor2D,
    delta: r([b, dIn]) as tf.Tensor2D,
    A: tf.neg(tf.randomUniform([dIn, n], 0.5, 8)) as tf.Tensor2D,
    B: r([b, n]) as tf.Tensor2D,
    C: r([b, n]) as tf.Tensor2D,
    D: r([dIn]) as tf.Tensor1D,
    z: r([b, dIn]) as tf.Tensor2D,
    deltaBias: r([dIn]) as tf.Tensor1D,
    deltaSoftplus: true,
    state: r([b, dIn, n]) as tf.Tensor3D,
  };
  await record(
    "decode step fused",
    [b, 1, dIn, n],
    () => {
      const o = webgpuScanStep(st);
      o.state.dispose();
      return o.y;
    },
    4 * (b * dIn * (4 + 2 * n) + dIn * (n + 2)),
    0.028,
  );
}

// 4. variants on the first shape, until the budget is spent.
{
  const [b, l, dIn, n, official] = SHAPES[0];
  const shape = [b, l, dIn, n];
  const x = inputs(b, l, dIn, n, true);
  const w = batchRandom(b, l, dIn, -1, 1);
  const forwardTunings: Partial<ScanTuning>[] = [
    ...fwdVariants.map(([fwdChannels, fwdRuns, fwdSteps]) => ({
      fwdKernel: "chunked" as const,
      fwdChannels,
      fwdRuns,
      fwdSteps,
    })),
    ...lanesVariants.map(([lanesPerChannel, lanesChannels, lanesTile]) => ({
      fwdKernel: "lanes" as const,
      lanesPerChannel,
      lanesChannels,
      lanesTile,
    })),
  ];
  for (const t of forwardTunings) {
    if (elapsed() > budgetS) break;
    await record(
      "forward fused variant",
      shape,
      fwd(x),
      fwdBytes(b, l, dIn, n, true),
      official,
      t,
    );
  }
  for (const [bwdChannels, bwdRuns, bwdSteps] of bwdVariants) {
    if (elapsed() > budgetS) break;
    await record(
      "forward+backward fused variant",
      shape,
      fwdBwd(x, w),
      fwdBwdBytes(b, l, dIn, n),
      null,
      { bwdChannels, bwdRuns, bwdSteps },
    );
  }
  disposeInputs(x);
  w.dispose();
  // The batch-1 shapes with the chunked forward's length split at each
  // --min-workgroups threshold (default 1, 256, 1024: off, then split
  // harder; the tuning's default is 64).
  for (const [b1, l1, d1, n1, off1] of SHAPES.filter((x) => x[0] === 1)) {
    const x1 = inputs(b1, l1, d1, n1, true);
    for (const minWorkgroups of minWorkgroupsVariants) {
      if (elapsed() > budgetS) break;
      await record(
        "forward fused variant",
        [b1, l1, d1, n1],
        fwd(x1),
        fwdBytes(b1, l1, d1, n1, true),
        off1,
        { fwdKernel: "chunked", minWorkgroups },
      );
    }
    disposeInputs(x1);
  }
}

console.log(
  "\n| what | shape (b, l, dIn, n) | tuning | runs | best GPU ms | median GPU ms | median wall ms | GB/s (best) | official CUDA ms | official / ours (best) |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
const groups = new Map<string, Row[]>();
for (const r of rows) {
  const key = `${r.what}|${r.shape}|${JSON.stringify(r.tuning)}`;
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const g of groups.values()) {
  const r = g[0];
  const ms = g.map((x) => x.gpuMs ?? x.wallMs);
  const best = Math.min(...ms);
  const bytes = r.gbps! * (r.gpuMs ?? r.wallMs) * 1e6;
  console.log(
    `| ${r.what} | ${r.shape.join(", ")} | ${
      JSON.stringify(r.tuning)
    } | ${g.length} | ${best.toFixed(3)} | ${median(ms).toFixed(3)} | ${
      median(g.map((x) => x.wallMs)).toFixed(3)
    } | ${(bytes / best / 1e6).toFixed(0)} | ${r.officialMs ?? "—"} | ${
      r.officialMs ? (r.officialMs / best).toFixed(2) + "×" : "—"
    } |`,
  );
}
console.log(`wrote ${outPath} in ${elapsed().toFixed(0)} s`);
