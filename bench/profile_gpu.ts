/**
 * Where the time of a WebGPU forward goes: wall time of the Mamba-130m
 * forward (examples/mamba_130m.ts with `--layers` blocks, random weights)
 * against the GPU time tfjs's timestamp queries measure per kernel, under a
 * few backend flags. Prints tables; writes JSON.
 *
 * Usage: deno run -A bench/profile_gpu.ts [--layers 4] [--b 1] [--l 2048]
 *        [--out bench/results/profile_gpu.json]
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, SUBMIT_BATCH, tf } from "../kernels/backend.ts";
import "../kernels/webgpu/register.ts";
import { buildModel } from "../models/model.ts";
import mamba130m from "../examples/mamba_130m.ts";

const args = parser(Deno.args, { string: ["out"] });
const layers = Number(args.layers ?? 4),
  b = Number(args.b ?? 1),
  l = Number(args.l ?? 2048);
const out = String(args.out ?? "bench/results/profile_gpu.json");
await setBackend("webgpu");
const projectDefault = tf.env().get(SUBMIT_BATCH);
tf.env().set(SUBMIT_BATCH, 15); // tfjs's own default first
// examples/mamba_130m.ts with `layers` blocks instead of 24.
const model = buildModel({
  ...mamba130m,
  nodes: mamba130m.nodes.map((node) =>
    node.kind === "repeat" ? { ...node, times: layers } : node
  ),
}, { seed: 0 });
const ids = tf.randomUniform([b, l], 0, 50280, "int32") as tf.Tensor2D;

async function wall(label: string): Promise<number> {
  await model.forward(ids).data();
  const start = performance.now();
  const reps = 3;
  let last: tf.Tensor | null = null;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = model.forward(ids);
  }
  await last!.data();
  last!.dispose();
  const ms = (performance.now() - start) / reps;
  console.log(
    `${label}: ${
      ms.toFixed(1)
    } ms per forward (${layers} layers, b=${b}, l=${l})`,
  );
  return ms;
}

const results: Record<string, unknown> = {};
results.default = await wall("tfjs default flags (submit every 15 dispatches)");
const prof = await tf.profile(async () => {
  await model.forward(ids).data();
});
const byKernel = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) {
  const e = byKernel.get(k.name) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  byKernel.set(k.name, e);
}
const rows = [...byKernel].sort((x, y) => y[1].ms - x[1].ms);
const gpuTotal = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(
  `kernels: ${prof.kernels.length}, summed GPU time ${gpuTotal.toFixed(1)} ms`,
);
console.log("| kernel | calls | GPU ms |\n| --- | --- | --- |");
for (const [name, e] of rows.slice(0, 20)) {
  console.log(`| ${name} | ${e.n} | ${e.ms.toFixed(2)} |`);
}
results.kernels = Object.fromEntries(rows);
tf.env().set(SUBMIT_BATCH, projectDefault);
results.projectDefault = await wall(
  `this project's ${SUBMIT_BATCH}=${projectDefault}`,
);
tf.env().set("WEBGPU_CPU_FORWARD", false);
results.noCpuForward = await wall("… and WEBGPU_CPU_FORWARD=false");
await Deno.writeTextFile(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), layers, b, l, ...results },
    null,
    2,
  ),
);
console.log(`wrote ${out}`);
