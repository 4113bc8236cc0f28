/**
 * The program's WebGPU executor against the hand-built prebuilt forward
 * (`infer/gpu_forward.ts`) on the Mamba-130m shape (24 layers, d 768,
 * d_state 16, vocab 50280, float32, random weights): forward at (b, l) =
 * (1, 2048) and (8, 512), the two timed in alternating rounds, each after
 * --warm-ms of sustained GPU work (bench/_gpu_clock.ts); and the executor's
 * step program (one token per call, state handed on) at batch 1 and 8.
 *
 * Timing: `--repeats` calls back to back, one wait at the end (a
 * one-element readback); the median of `--rounds` rounds is reported.
 *
 * Usage: deno run -A bench/program_gpu.ts [--repeats 10] [--rounds 3]
 *        [--warm-ms 400] [--shapes 1x2048,8x512] [--steps 64]
 *        [--out bench/results/program_gpu.json] [--small] (the byte LM
 *        instead, to try the script on a software adapter)
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, tf } from "../kernels/backend.ts";
import { webgpuBackend } from "../kernels/webgpu/_dispatch.ts";
import { buildModel } from "../models/model.ts";
import { lowerArchitecture } from "../models/program/lower.ts";
import { WebGpuExecutor } from "../models/program/webgpu_executor.ts";
import { GpuForward } from "../infer/gpu_forward.ts";
import mamba130m from "../examples/mamba_130m.ts";
import byteLm from "../examples/byte_lm.ts";
import { waitFor } from "./_gpu_timer.ts";
import { makeClockProbe } from "./_gpu_clock.ts";

const args = parser(Deno.args, { string: ["shapes", "out"] });
const repeats = Number(args.repeats ?? 10);
const rounds = Number(args.rounds ?? 3);
const warmMs = Number(args["warm-ms"] ?? 400);
const steps = Number(args.steps ?? 64);
const shapes = String(args.shapes ?? "1x2048,8x512").split(",").map((s) =>
  s.split("x").map(Number)
);
const out = String(args.out ?? "bench/results/program_gpu.json");

await setBackend("webgpu");
const device = webgpuBackend().device;
const probe = warmMs > 0 ? makeClockProbe(device) : null;
const adapter = (await navigator.gpu.requestAdapter())?.info?.description;
console.log(`adapter: ${adapter}`);
// --small: the byte LM, to try the script on a software adapter.
const model = buildModel(args.small ? byteLm : mamba130m, { seed: 0 });
const vocab = model.resolved.vocab;
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];

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
for (const [b, l] of shapes) {
  const ids = Array.from(
    { length: b },
    (_, r) => Array.from({ length: l }, (_, t) => (r * 131 + t * 17) % vocab),
  );
  const idT = tf.tensor2d(ids, [b, l], "int32");
  const hand = new GpuForward(model, { batch: b, length: l, weights: "share" });
  const program = lowerArchitecture(model.resolved, "forward");
  const exec = new WebGpuExecutor(program, model.params, {
    batch: b,
    length: l,
  });
  // Same numbers first.
  const [x, y] = [hand.forward(idT), exec.run(idT).output];
  const [diff, scale] = tf.tidy(() => [
    tf.max(tf.abs(tf.sub(x, y))),
    tf.max(tf.abs(y)),
  ]);
  const err = (await diff.data())[0] / (await scale.data())[0];
  tf.dispose([diff, scale]);
  tf.dispose([x, y]);
  const a: number[] = [], p: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await timed(() => hand.forward(idT)));
    p.push(await timed(() => exec.run(idT).output));
  }
  const row = {
    what: "forward",
    b,
    l,
    gpuForwardMs: median(a),
    programMs: median(p),
    ratio: median(p) / median(a),
    maxRelDiff: err,
    rounds: { gpuForward: a, program: p },
  };
  console.log(JSON.stringify(row));
  results.push(row);
  hand.dispose();
  exec.dispose();
  idT.dispose();
}

for (const b of [1, 8]) {
  const exec = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "step"),
    model.params,
    { batch: b, length: 1 },
  );
  const perToken: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    let state: { conv: tf.Tensor; ssm: tf.Tensor }[] =
      model.initialState(b).layers;
    if (probe) await probe.warm(warmMs);
    const start = performance.now();
    let logits: tf.Tensor | null = null;
    for (let t = 0; t < steps; t++) {
      const ids = Array.from({ length: b }, (_, i) => (t * 7 + i) % vocab);
      const next = exec.run(ids, state);
      logits?.dispose();
      for (const s of state) tf.dispose([s.conv, s.ssm]);
      state = next.state;
      logits = next.output;
    }
    await waitFor(logits!);
    if (r > 0) perToken.push((performance.now() - start) / steps);
    logits!.dispose();
    for (const s of state) tf.dispose([s.conv, s.ssm]);
  }
  const row = {
    what: "step",
    b,
    msPerStep: median(perToken),
    tokensPerS: (1000 * b) / median(perToken),
    rounds: perToken,
  };
  console.log(JSON.stringify(row));
  results.push(row);
  exec.dispose();
}
await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify({ adapter, date: new Date().toISOString(), results }, null, 1),
);
console.log(`wrote ${out}`);
