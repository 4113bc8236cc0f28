/**
 * tfjs WebGPU matMul on the Mamba-130m projection shapes: weights in torch
 * layout (out, in) used with `transposeB`, against the same weights stored
 * (in, out). Many calls per readback; prints ms per call and TFLOP/s.
 *
 * Usage: deno run -A bench/matmul_gpu.ts [--rows 2048] [--repeats 20]
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, tf } from "../kernels/backend.ts";

const args = parser(Deno.args);
const rows = Number(args.rows ?? 2048);
const repeats = Number(args.repeats ?? 20);
await setBackend("webgpu");
const shapes: [string, number, number][] = [
  ["in_proj", 768, 3072],
  ["x_proj", 1536, 80],
  ["dt_proj", 48, 1536],
  ["out_proj", 1536, 768],
  ["lm_head", 768, 50280],
];
console.log(
  `| weight | (rows × in) · (in × out) | transposeB ms | pre-transposed ms | TFLOP/s (best) |`,
);
console.log(`| --- | --- | --- | --- | --- |`);
const results = [];
for (const [name, k, n] of shapes) {
  const x = tf.randomNormal([rows, k]);
  const wOutIn = tf.randomNormal([n, k]);
  const wInOut = tf.transpose(wOutIn);
  const time = async (f: () => tf.Tensor) => {
    await f().data();
    const start = performance.now();
    let last: tf.Tensor | null = null;
    for (let i = 0; i < repeats; i++) {
      last?.dispose();
      last = f();
    }
    await last!.data();
    return (performance.now() - start) / repeats;
  };
  const tB = await time(() => tf.matMul(x, wOutIn, false, true));
  const pre = await time(() => tf.matMul(x, wInOut));
  const flops = 2 * rows * k * n;
  const best = Math.min(tB, pre);
  results.push({ name, rows, k, n, transposeBMs: tB, preTransposedMs: pre });
  console.log(
    `| ${name} | ${rows}×${k} · ${k}×${n} | ${tB.toFixed(2)} | ${
      pre.toFixed(2)
    } | ${(flops / best / 1e9).toFixed(2)} |`,
  );
  tf.dispose([x, wOutIn, wInOut]);
}
if (args.out) {
  await Deno.writeTextFile(String(args.out), JSON.stringify(results, null, 2));
}
