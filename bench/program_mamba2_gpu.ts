/**
 * Mamba-2 through the program's WebGPU executor (the WGSL SSD kernels of
 * `kernels/webgpu/ssd.ts`) at the Mamba-2 130m shape (d_model 768, 24
 * layers, state 128, head dim 64, 1 group, chunk 256, vocab 50288,
 * float32, random weights): forward at (b, l) = (1, 2048) and (8, 512),
 * and greedy decode (16-token prompt, 512 new: the prefill program on the
 * prompt, then the step program one token at a time, the argmax on the GPU,
 * no readback until the end) at batch 1 and 8. Beside them, the device's
 * copy bandwidth from the same call (copyBufferToBuffer of 256 MiB, bytes
 * read + written per second), to compare with a PyTorch copy figure.
 *
 * Timing (as `bench/program_gpu.ts`): each forward `--repeats` calls back to
 * back, one wait at the end (a one-element readback), after `--warm-ms` of
 * sustained GPU work (`bench/_gpu_clock.ts`); a whole greedy generation
 * per round; the median of `--rounds` rounds (decode after one unrecorded
 * round). Before timing, the executor's forward is checked against
 * model.forward at (1, 300) (two chunks).
 *
 * Usage: deno run -A bench/program_mamba2_gpu.ts [--repeats 10] [--rounds 3]
 *        [--warm-ms 400] [--shapes 1x2048,8x512] [--batches 1,8]
 *        [--prompt 16] [--new 512] [--out bench/results/program_mamba2_gpu.json]
 *        [--tiny] (a 2-layer d-64 model at small shapes, to try the script
 *        on a software adapter) [--vocab 50277] (before padding to 16; a
 *        small one fits the 130m layers in a software adapter's 128 MiB
 *        binding limit)
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, tf } from "../kernels/backend.ts";
import { webgpuBackend } from "../kernels/webgpu/_dispatch.ts";
import { buildModel } from "../models/model.ts";
import { lowerArchitecture } from "../models/program/lower.ts";
import { WebGpuExecutor } from "../models/program/webgpu_executor.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba2,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { waitFor } from "./_gpu_timer.ts";
import { makeClockProbe } from "./_gpu_clock.ts";

const args = parser(Deno.args, {
  string: ["shapes", "batches", "out"],
  boolean: ["tiny"],
});
const tiny = !!args.tiny;
const repeats = Number(args.repeats ?? (tiny ? 2 : 10));
const rounds = Number(args.rounds ?? (tiny ? 1 : 3));
const warmMs = Number(args["warm-ms"] ?? (tiny ? 0 : 400));
const shapes = String(args.shapes ?? (tiny ? "1x40,2x20" : "1x2048,8x512"))
  .split(",").map((s) => s.split("x").map(Number));
const batches = String(args.batches ?? (tiny ? "1,2" : "1,8")).split(",")
  .map(Number);
const promptLen = Number(args.prompt ?? 16);
const vocabArg = Number(args.vocab ?? (tiny ? 256 : 50277));
const newTokens = Number(args.new ?? (tiny ? 8 : 512));
const out = String(
  args.out ??
    (tiny
      ? "bench/results/program_mamba2_gpu_tiny.json"
      : "bench/results/program_mamba2_gpu.json"),
);

/** Mamba-2 130m (state-spaces/mamba2-130m), or a tiny one of the same form. */
const arch = architecture({
  name: tiny ? "mamba2_tiny" : "mamba2_130m_shape",
  nodes: [
    embedding({
      vocab: vocabArg,
      dim: tiny ? 64 : 768,
      padVocabMultiple: 16,
    }),
    repeat(tiny ? 2 : 24, [
      residual({
        norm: rmsNorm(1e-5),
        mixer: mamba2({
          headDim: tiny ? 16 : 64,
          groups: 1,
          dState: tiny ? 16 : 128,
          expand: 2,
          dConv: 4,
          chunkSize: tiny ? 16 : 256,
        }),
      }),
    ]),
    rmsNorm(1e-5),
    lmHead({ tied: true }),
  ],
});

await setBackend("webgpu");
const device = webgpuBackend().device;
const probe = warmMs > 0 ? makeClockProbe(device) : null;
const adapter = (await navigator.gpu.requestAdapter())?.info?.description;
console.log(`adapter: ${adapter}`);
const model = buildModel(arch, { seed: 0 });
const vocab = model.resolved.vocab;
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
const idRows = (b: number, l: number) =>
  Array.from(
    { length: b },
    (_, r) => Array.from({ length: l }, (_, t) => (r * 131 + t * 17) % vocab),
  );

/** Bytes read + written per second by copyBufferToBuffer of `mib` MiB. */
async function copyBandwidth(mib: number, times: number): Promise<number> {
  const size = mib * 2 ** 20;
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const [a, b] = [0, 1].map(() => device.createBuffer({ size, usage }));
  const run = async () => {
    const enc = device.createCommandEncoder();
    for (let i = 0; i < times; i++) enc.copyBufferToBuffer(a, 0, b, 0, size);
    const start = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - start;
  };
  await run();
  if (probe) await probe.warm(warmMs);
  const ms = await run();
  a.destroy();
  b.destroy();
  return (2 * size * times) / (ms / 1000);
}

/** `repeats` calls back to back, one wait; ms per call. */
async function timed(work: () => tf.Tensor): Promise<number> {
  if (probe) await probe.warm(warmMs);
  const start = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < repeats; i++) {
    last?.dispose();
    last = work();
  }
  await waitFor(last!);
  last!.dispose();
  return (performance.now() - start) / repeats;
}

const results: Record<string, unknown>[] = [];
const copy = await copyBandwidth(tiny ? 16 : 256, 10);
results.push({ what: "copy", bytesPerS: copy });
console.log(`copy: ${(copy / 1e9).toFixed(1)} GB/s (read + write)`);

// The executor's forward against model.forward (tfjs ops) first.
{
  const l = tiny ? 37 : 300;
  const ids = idRows(1, l);
  const exec = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "forward"),
    model.params,
    { batch: 1, length: l },
  );
  const x = exec.run(ids).output;
  const y = model.forward(ids);
  const [diff, scale] = tf.tidy(() => [
    tf.max(tf.abs(tf.sub(x, y))),
    tf.max(tf.abs(y)),
  ]);
  const err = (await diff.data())[0] / (await scale.data())[0];
  tf.dispose([x, y, diff, scale]);
  exec.dispose();
  results.push({ what: "check", b: 1, l, maxRelDiffVsModelForward: err });
  console.log(
    `check (1, ${l}): executor vs model.forward ${err.toExponential(2)}`,
  );
}

for (const [b, l] of shapes) {
  const idT = tf.tensor2d(idRows(b, l), [b, l], "int32");
  const exec = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "forward"),
    model.params,
    { batch: b, length: l },
  );
  exec.run(idT).output.dispose(); // pipelines compiled before timing
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ms.push(await timed(() => exec.run(idT).output));
  }
  const row = {
    what: "forward",
    b,
    l,
    ms: median(ms),
    tokensPerS: (1000 * b * l) / median(ms),
    dispatches: exec.dispatches,
    rounds: ms,
  };
  console.log(JSON.stringify(row));
  results.push(row);
  exec.dispose();
  idT.dispose();
}

for (const b of batches) {
  const prefill = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "prefill", { lastOnly: true }),
    model.params,
    { batch: b, length: promptLen },
  );
  const step = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "step"),
    model.params,
    { batch: b, length: 1 },
  );
  const prompt = tf.tensor2d(idRows(b, promptLen), [b, promptLen], "int32");
  const pick = (logits: tf.Tensor) =>
    tf.tidy(() =>
      tf.reshape(tf.argMax(logits, logits.rank - 1), [b]) as tf.Tensor1D
    );
  /** One greedy generation; its ms and the ids it made (b, new). */
  const generate = async (): Promise<[number, number[]]> => {
    if (probe) await probe.warm(warmMs);
    const start = performance.now();
    const first = prefill.run(prompt);
    let state = first.state;
    let next = pick(first.output);
    first.output.dispose();
    const made: tf.Tensor1D[] = [next];
    for (let t = 1; t < newTokens; t++) {
      const r = step.run(next, state);
      tf.dispose(state.flatMap((s) => [s.conv, s.ssm]));
      state = r.state;
      next = pick(r.output);
      r.output.dispose();
      made.push(next);
    }
    const all = tf.stack(made, 1);
    const ids = Array.from(await all.data());
    const ms = performance.now() - start;
    tf.dispose([...made, all, ...state.flatMap((s) => [s.conv, s.ssm])]);
    return [ms, ids];
  };
  const [, firstIds] = await generate(); // compiles; not recorded
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [t, ids] = await generate();
    if (ids.join() !== firstIds.join()) {
      throw new Error(`decode b=${b}: round ${r} made different ids`);
    }
    ms.push(t);
  }
  const row = {
    what: "greedy decode",
    b,
    prompt: promptLen,
    newTokens,
    ms: median(ms),
    tokensPerS: (1000 * b * newTokens) / median(ms),
    rounds: ms,
  };
  console.log(JSON.stringify(row));
  results.push(row);
  prefill.dispose();
  step.dispose();
  prompt.dispose();
}

console.log("\n| what | shape | ms | tokens/s |\n|---|---|---|---|");
for (const r of results) {
  if (r.what === "forward") {
    console.log(
      `| forward | (${r.b}, ${r.l}) | ${(r.ms as number).toFixed(2)} | ${
        Math.round(r.tokensPerS as number)
      } |`,
    );
  } else if (r.what === "greedy decode") {
    console.log(
      `| greedy decode | b ${r.b}, ${r.prompt} + ${r.newTokens} | ${
        (r.ms as number).toFixed(1)
      } | ${Math.round(r.tokensPerS as number)} |`,
    );
  }
}
console.log(`copy bandwidth: ${(copy / 1e12).toFixed(3)} TB/s (read + write)`);
await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      adapter,
      date: new Date().toISOString(),
      model: tiny ? "tiny" : "mamba2-130m shape, random weights",
      results,
    },
    null,
    1,
  ),
);
console.log(`wrote ${out}`);
