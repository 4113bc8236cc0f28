/**
 * Whole-model forward on WebGPU: the Mamba-130m shape (24 layers, d 768,
 * d_state 16, vocab 50280, float32, random weights) at (b, l) = (1, 2048) and
 * (8, 512), with the time split into the scan, the matmuls and the rest, each
 * part timed alone on the same shapes (24 layers' worth).
 *
 * Timing: each measurement runs the work `--repeats` times back to back and
 * waits once at the end (one readback), so the ~12 ms submit+wait latency of
 * the H200 machine is paid once, not per call.
 *
 * Usage: deno run -A bench/model_gpu.ts [--backend webgpu] [--repeats 5]
 *        [--shapes 1x2048,8x512] [--out bench/results/model_gpu.json]
 *
 * @module
 */
import { matMulTransposed } from "../models/_layers.ts";
import { type GpuTimer, makeGpuTimer } from "./_gpu_timer.ts";
import parser from "yargs-parser";
import { type BackendName, setBackend, tf } from "../kernels/backend.ts";
import "../kernels/webgpu/register.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import { buildModel } from "../models/model.ts";
import mamba130m from "../examples/mamba_130m.ts";

const args = parser(Deno.args, { string: ["backend", "shapes", "out"] });
const backend = String(args.backend ?? "webgpu") as BackendName;
const repeats = Number(args.repeats ?? 5);
const shapes = String(args.shapes ?? "1x2048,8x512").split(",").map((s) =>
  s.split("x").map(Number)
);
const out = String(args.out ?? "bench/results/model_gpu.json");

await setBackend(backend);
const model = buildModel(mamba130m, { seed: 0 });
const layers = model.resolved.layers.length;
const d = model.resolved.dModel, dIn = model.resolved.layers[0].mixer.dInner;
const n = model.resolved.layers[0].mixer.dState,
  r = model.resolved.layers[0].mixer.dtRankValue;

const timer: GpuTimer | null = backend === "webgpu"
  ? makeGpuTimer((tf.backend() as unknown as { device: GPUDevice }).device)
  : null;

/**
 * Runs `work` `repeats` times, waits once; returns wall ms per run and, on
 * webgpu, GPU busy ms per run (timestamp queries).
 */
async function time(
  work: () => tf.Tensor,
): Promise<{ ms: number; gpuMs: number | null }> {
  await (tf.tidy(work)).data(); // warm-up: pipelines compiled
  timer?.begin();
  const start = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < repeats; i++) {
    last?.dispose();
    last = tf.tidy(work);
  }
  await last!.data();
  last!.dispose();
  const ms = (performance.now() - start) / repeats;
  const gpu = timer ? await timer.end() : null;
  return { ms, gpuMs: gpu === null ? null : gpu / repeats };
}

// The model's own a·Wᵀ (the WGSL matMulNT on webgpu).
const mm = (a: tf.Tensor, w: tf.Tensor) =>
  matMulTransposed(a as tf.Tensor2D, w as tf.Tensor2D);

const rows = [];
for (const [b, l] of shapes) {
  const ids = tf.tidy(() =>
    tf.randomUniform([b, l], 0, 50280, "int32")
  ) as tf.Tensor2D;
  const forward = await time(() => model.forward(ids));
  const u = tf.randomNormal([b, l, dIn]) as tf.Tensor3D;
  const delta = tf.randomNormal([b, l, dIn], -4, 0.5) as tf.Tensor3D;
  const A = tf.neg(tf.exp(tf.randomNormal([dIn, n]))) as tf.Tensor2D;
  const B = tf.randomNormal([b, l, n]) as tf.Tensor3D;
  const C = tf.randomNormal([b, l, n]) as tf.Tensor3D;
  const D = tf.ones([dIn]) as tf.Tensor1D;
  const bias = tf.zeros([dIn]) as tf.Tensor1D;
  const { ms: scan } = await time(() => {
    let y: tf.Tensor = tf.zeros([b, l, dIn]);
    for (let i = 0; i < layers; i++) {
      y = tf.add(
        y,
        selectiveScan({
          u,
          delta,
          A,
          B,
          C,
          D,
          z: u,
          deltaBias: bias,
          deltaSoftplus: true,
        }).y,
      );
    }
    return y;
  });
  const x = tf.randomNormal([b * l, d]);
  const w = {
    inP: tf.randomNormal([2 * dIn, d]),
    xP: tf.randomNormal([r + 2 * n, dIn]),
    dtP: tf.randomNormal([dIn, r]),
    outP: tf.randomNormal([d, dIn]),
  };
  const { ms: matmul } = await time(() => {
    let acc: tf.Tensor = tf.zeros([b * l, d]);
    for (let i = 0; i < layers; i++) {
      const xz = mm(x, w.inP); // (b·l, 2·dIn)
      const xi = xz.slice([0, 0], [b * l, dIn]);
      const dbc = mm(xi, w.xP); // (b·l, r+2n)
      const dt = mm(dbc.slice([0, 0], [b * l, r]), w.dtP); // (b·l, dIn)
      acc = tf.add(acc, mm(tf.add(xi, dt), w.outP)); // (b·l, d)
    }
    return tf.add(
      acc,
      mm(x, model.params.get("backbone.embeddings.weight")!)
        .slice([0, 0], [b * l, d]),
    ); // + LM head
  });
  tf.dispose([ids, u, delta, A, B, C, D, bias, x, ...Object.values(w)]);
  rows.push({
    b,
    l,
    forwardMs: forward.ms,
    forwardGpuMs: forward.gpuMs,
    scanMs: scan,
    matmulMs: matmul,
    restMs: forward.ms - scan - matmul,
  });
}

console.log(
  `Mamba-130m shape forward on ${backend}, float32, mean of ${repeats}`,
);
console.log(
  "| b | l | forward ms | forward GPU ms | scan ms (24 layers) | matmuls ms (projections + head) | rest ms |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const x of rows) {
  console.log(
    `| ${x.b} | ${x.l} | ${x.forwardMs.toFixed(1)} | ${
      x.forwardGpuMs?.toFixed(1) ?? "—"
    } | ${x.scanMs.toFixed(1)} | ${x.matmulMs.toFixed(1)} | ${
      x.restMs.toFixed(1)
    } |`,
  );
}
await Deno.writeTextFile(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), backend, repeats, rows },
    null,
    2,
  ),
);
console.log(`wrote ${out}`);
