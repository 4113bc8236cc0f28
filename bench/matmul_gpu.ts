/**
 * Linear-layer matmuls on the Mamba-130m projection shapes (weights in torch
 * layout (out, in)): tfjs `matMul(x, w, false, true)`, tfjs on a
 * pre-transposed weight, and this project's WGSL `matMulNT` in f32 and (where
 * the device has `shader-f16`) with an f16 copy of the weight. Prints ms per
 * call, TFLOP/s and the largest error against tfjs's pre-transposed result.
 *
 * Timing: calls are queued with no readback between them and one readback at
 * the end; a short run is subtracted from a long run so the readback's fixed
 * latency (~12 ms on the H200) cancels (BENCHMARKS.md, "Timing").
 *
 * Usage: deno run -A bench/matmul_gpu.ts [--rows 2048,4096] [--quick]
 *   [--tune] [--out results.json]
 *   --quick: 16 rows, fewer calls (for the llvmpipe software adapter)
 *   --tune:  also time matMulNT's other tile sizes and BK = 32
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, tf } from "../kernels/backend.ts";
import {
  hasShaderF16,
  matMulNT,
  type MatMulTuning,
  setMatMulTuning,
} from "../kernels/webgpu/matmul.ts";

const args = parser(Deno.args, { boolean: ["quick", "tune"] });
const quick = Boolean(args.quick);
const rowList = String(args.rows ?? (quick ? "16" : "2048,4096"))
  .split(",").map(Number);
/** GPU time one timed run aims at, seconds. */
const target = quick ? 0.05 : 0.12;
/** Most bytes of outputs queued before one readback (they are freed only
 * at the submit). */
const maxQueuedBytes = 4e9;
await setBackend("webgpu");
const f16 = hasShaderF16();
const maxBinding = (tf.backend() as unknown as { device: GPUDevice }).device
  .limits.maxStorageBufferBindingSize;
const shapes: [string, number, number][] = [
  ["in_proj", 768, 3072],
  ["x_proj", 1536, 80],
  ["dt_proj", 48, 1536],
  ["out_proj", 1536, 768],
  ["lm_head", 768, 50280],
];

/** Wall time of `calls` queued calls and one small readback, seconds. */
async function run(f: () => tf.Tensor, calls: number): Promise<number> {
  const start = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < calls; i++) {
    last?.dispose();
    last = f();
  }
  // Read back one element: the queue runs in order, so this waits for every
  // call, without timing a transfer of the whole output.
  const corner = tf.slice(last!, [0, 0], [1, 1]);
  await corner.data();
  tf.dispose([corner, last!]);
  return (performance.now() - start) / 1e3;
}

/** Seconds per call: (long run − short run) / (extra calls), best of a few. */
async function perCall(f: () => tf.Tensor, outBytes: number): Promise<{
  s: number;
  calls: number;
}> {
  const one = await run(f, 1); // also compiles and warms up
  const cap = Math.max(2, Math.floor(maxQueuedBytes / outBytes));
  if (one > 0.1) {
    // Slow enough that a readback's latency is noise: 1 vs 3 calls, once.
    const long = Math.min(3, cap);
    await run(f, long); // fills the buffer pool (see below)
    const d = (await run(f, long)) - (await run(f, 1));
    return { s: d / (long - 1), calls: long };
  }
  // Estimate, then aim the long run at `target` seconds of work.
  const est = Math.max(
    1e-6,
    ((await run(f, 8)) - (await run(f, 2))) / 6,
  );
  const long = Math.min(
    cap,
    Math.max(8, Math.min(2000, Math.ceil(target / est))),
  );
  const short = Math.max(1, Math.floor(long / 4));
  // One untimed long run first: its queued outputs fill tfjs's buffer pool,
  // so the timed runs measure the kernel, not buffer creation.
  await run(f, long);
  // Fastest long run minus fastest short run: one slow readback in either
  // does not leak into the result.
  let bestLong = Infinity, bestShort = Infinity;
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    bestLong = Math.min(bestLong, await run(f, long));
    bestShort = Math.min(bestShort, await run(f, short));
  }
  return { s: (bestLong - bestShort) / (long - short), calls: long };
}

/** Largest |got − ref| and largest |ref|. */
async function compare(
  got: tf.Tensor,
  ref: Float32Array,
): Promise<{ maxAbsErr: number; maxAbsRef: number }> {
  const g = await got.data() as Float32Array;
  let maxAbsErr = 0, maxAbsRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsErr = Math.max(maxAbsErr, Math.abs(g[i] - ref[i]));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(ref[i]));
  }
  if (g.some((x) => !Number.isFinite(x))) maxAbsErr = NaN;
  return { maxAbsErr, maxAbsRef };
}

interface Row {
  name: string;
  rows: number;
  k: number;
  n: number;
  method: string;
  msPerCall: number;
  tflops: number;
  calls: number;
  maxAbsErr: number;
  maxAbsRef: number;
}
const results: Row[] = [];
const info = (tf.backend() as unknown as { adapterInfo?: unknown })
  .adapterInfo;
console.log(`adapter: ${JSON.stringify(info)}; shader-f16: ${f16}`);
const tunings: [string, Partial<MatMulTuning>][] = args.tune
  ? [
    ["ours f32 large BK16", { tile: "large", BK: 16 }],
    ["ours f32 small BK16", { tile: "small", BK: 16 }],
    ["ours f32 large BK32", { tile: "large", BK: 32 }],
    ["ours f32 small BK32", { tile: "small", BK: 32 }],
  ]
  : [];
const defaults = setMatMulTuning({});
const t0 = performance.now();
for (const rows of rowList) {
  for (const [name, k, n] of shapes) {
    if (4 * Math.max(n * k, rows * n) > maxBinding) {
      console.log(`${name}: skipped, over this device's binding limit`);
      continue;
    }
    const x = tf.randomNormal([rows, k]) as tf.Tensor2D; // (rows, in)
    // Weights scaled like nn.Linear's init so outputs are O(1).
    const w = tf.randomUniform(
      [n, k],
      -1 / Math.sqrt(k),
      1 / Math.sqrt(k),
    ) as tf.Tensor2D; // (out, in)
    const wT = tf.transpose(w) as tf.Tensor2D; // (in, out)
    const refT = tf.matMul(x, wT);
    const ref = await refT.data() as Float32Array;
    refT.dispose();
    const methods: [string, () => tf.Tensor, Partial<MatMulTuning>?][] = [
      ["tfjs transposeB", () => tf.matMul(x, w, false, true)],
      ["tfjs pre-transposed", () => tf.matMul(x, wT)],
      ["ours f32", () => matMulNT(x, w)],
      ...(f16
        ? [["ours f16", () => matMulNT(x, w, { precision: "f16" })] as [
          string,
          () => tf.Tensor,
        ]]
        : []),
      ...tunings.map(([label, t]) =>
        [label, () => matMulNT(x, w), t] as [
          string,
          () => tf.Tensor,
          Partial<MatMulTuning>,
        ]
      ),
    ];
    for (const [method, f, tune] of methods) {
      setMatMulTuning({ ...defaults, ...tune });
      const out = f();
      const err = await compare(out, ref);
      out.dispose();
      const { s, calls } = await perCall(f, rows * n * 4);
      const flops = 2 * rows * k * n;
      results.push({
        name,
        rows,
        k,
        n,
        method,
        msPerCall: s * 1e3,
        tflops: flops / s / 1e12,
        calls,
        ...err,
      });
    }
    setMatMulTuning(defaults);
    tf.dispose([x, w, wT]);
  }
}
const methods = [...new Set(results.map((r) => r.method))];
console.log(
  `| weight | rows × in · in × out | ${
    methods.map((m) => `${m} ms (TFLOP/s)`).join(" | ")
  } | max abs err ours f32${f16 ? " / f16" : ""} (max abs out) |`,
);
console.log(`| --- | --- | ${methods.map(() => "---").join(" | ")} | --- |`);
for (const rows of rowList) {
  for (const [name, k, n] of shapes) {
    const cell = results.filter((r) => r.rows === rows && r.name === name);
    if (cell.length === 0) continue;
    const get = (m: string) => cell.find((r) => r.method === m);
    const errs = ["ours f32", "ours f16"].map(get).filter((r) => r)
      .map((r) => r!.maxAbsErr.toExponential(1)).join(" / ");
    console.log(
      `| ${name} | ${rows}×${k} · ${k}×${n} | ${
        methods.map((m) => {
          const r = get(m)!;
          return `${r.msPerCall.toFixed(3)} (${r.tflops.toFixed(2)})`;
        }).join(" | ")
      } | ${errs} (${get("ours f32")!.maxAbsRef.toFixed(2)}) |`,
    );
  }
}
console.log(`total ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
if (args.out) {
  await Deno.writeTextFile(
    String(args.out),
    JSON.stringify({ adapter: info, shaderF16: f16, results }, null, 2),
  );
}
