/**
 * What clock the GPU runs this project's WebGPU work at, seen from inside
 * WebGPU with the clock probe of `_gpu_clock.ts` (a compute-bound kernel
 * timed with `timestamp-query`; its rate is proportional to the SM clock).
 * Run it beside `nvidia-smi --query-gpu=clocks.sm -lms 250` to see the
 * driver's side.
 *
 * Phases, each `--seconds` long, the clock printed per second relative to
 * the fastest seen:
 * - bursty: one short probe, then 20 ms idle, again and again (how a
 *   benchmark between readbacks, or a request-at-a-time server, drives the
 *   GPU);
 * - sustained: probes kept in flight back to back (a training loop, a
 *   loaded server, or the benches' warm-up);
 * - bursty again: how fast the clock decays afterwards.
 *
 * Usage: deno run -A bench/clocks_gpu.ts [--seconds 4] [--groups 4096]
 *   [--out bench/results/clocks_gpu.json]
 *
 * @module
 */
import { dirname } from "node:path";
import parser from "yargs-parser";
import { setBackend } from "../kernels/backend.ts";
import { webgpuBackend } from "../kernels/webgpu/_dispatch.ts";
import { makeClockProbe } from "./_gpu_clock.ts";

const args = parser(Deno.args, { string: ["out"] });
const seconds = Number(args.seconds ?? 4);
const groups = Number(args.groups ?? 4096);
const out = String(args.out ?? "bench/results/clocks_gpu.json");

await setBackend("webgpu");
const device = webgpuBackend().device;
const probe = makeClockProbe(device, groups);
if (!probe) throw new Error("clocks_gpu: expected the timestamp-query feature");

const phases: Record<string, { t: number; clock: number }[]> = {};
for (const name of ["bursty", "sustained", "bursty again"]) {
  const samples: { t: number; clock: number }[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1e3) {
    const clock = name === "sustained"
      ? await probe.warm(100)
      : await probe.sample();
    samples.push({ t: (performance.now() - t0) / 1e3, clock });
    if (name !== "sustained") await new Promise((r) => setTimeout(r, 20));
  }
  phases[name] = samples;
}
// Relative to the fastest rate of the whole run (the probe's peak moves up).
const peak = probe.peak();
console.log(
  `fastest probe: ${
    (peak / 1e12).toFixed(2)
  } T FMA/s; clock per second, relative to it:`,
);
for (const [name, samples] of Object.entries(phases)) {
  const bySecond: number[][] = [];
  for (const s of samples) (bySecond[Math.floor(s.t)] ??= []).push(s.clock);
  console.log(
    `  ${name}: ${
      bySecond.map((v) =>
        v.sort((a, b) => a - b)[Math.floor(v.length / 2)].toFixed(2)
      ).join(" ")
    }`,
  );
}
await Deno.mkdir(dirname(out), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify({ peak, phases }, null, 1),
);
console.log(`wrote ${out}`);
