/**
 * Scan bench: time and error vs the float64 oracle of the `reference`,
 * `chunked` and `seed` scans on cpu, wasm and webgpu at (1, L, 256, 16),
 * with Δ as freshly initialised (dt log-uniform in [1e-3, 1e-1] through the
 * dt_proj bias and softplus) and A_log = log(1..16).
 *
 * Usage: deno run -A bench/scan.ts [--lengths 256,1024] [--backends wasm]
 *        [--repeats=3] [--out=bench/results/scan.json]
 *
 * @module
 */
import { dirname } from "node:path";
import parser from "yargs-parser";
import {
  type BackendName,
  hasWebGPU,
  setBackend,
  tf,
} from "../kernels/backend.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import { referenceScan } from "../kernels/scan_reference.ts";
import { relError } from "../kernels/_scan_test_data.ts";
import type { ScanImpl } from "../kernels/scan_types.ts";
import { Rng } from "../models/_rng.ts";

const args = parser(Deno.args, { string: ["lengths", "backends", "out"] });
const lengths = String(args.lengths ?? "256,512,1024,2048,4096").split(",")
  .map(Number);
const repeats = Number(args.repeats ?? 3);
const out = String(args.out ?? "bench/results/scan.json");
const dIn = 256, n = 16, b = 1;

function inputs(l: number, seed: number) {
  const rng = new Rng(seed);
  const arr = (size: number, f: () => number) =>
    Float64Array.from({ length: size }, f);
  const u = arr(b * l * dIn, () => rng.normal());
  const delta = arr(b * l * dIn, () => rng.normal(0, 0.1));
  const deltaBias = arr(dIn, () => {
    const dt = Math.exp(rng.uniform(Math.log(1e-3), Math.log(1e-1)));
    return dt + Math.log(-Math.expm1(-dt));
  });
  const A = arr(dIn * n, () => 0).map((_, i) => -((i % n) + 1));
  const B = arr(b * l * n, () => rng.normal());
  const C = arr(b * l * n, () => rng.normal());
  const D = arr(dIn, () => 1);
  return { b, l, dIn, n, u, delta, A, B, C, D, deltaBias, deltaSoftplus: true };
}

interface Row {
  backend: string;
  impl: ScanImpl;
  l: number;
  ms: number;
  relError: number;
}

const rows: Row[] = [];
const gpu = await hasWebGPU();
const backendList = String(args.backends ?? "cpu,wasm,webgpu").split(",")
  .filter((x) => x !== "webgpu" || gpu) as BackendName[];

for (const l of lengths) {
  const data = inputs(l, l);
  const t0 = performance.now();
  const ref = referenceScan(data);
  rows.push({
    backend: "js",
    impl: "reference",
    l,
    ms: performance.now() - t0,
    relError: 0,
  });
  for (const backend of backendList) {
    await setBackend(backend);
    const T = {
      u: tf.tensor3d(Float32Array.from(data.u), [b, l, dIn]),
      delta: tf.tensor3d(Float32Array.from(data.delta), [b, l, dIn]),
      A: tf.tensor2d(Float32Array.from(data.A), [dIn, n]),
      B: tf.tensor3d(Float32Array.from(data.B), [b, l, n]),
      C: tf.tensor3d(Float32Array.from(data.C), [b, l, n]),
      D: tf.tensor1d(Float32Array.from(data.D)),
      deltaBias: tf.tensor1d(Float32Array.from(data.deltaBias)),
      deltaSoftplus: true,
    };
    for (const impl of ["chunked", "seed"] as ScanImpl[]) {
      const run = async () => {
        const { y } = selectiveScan(T, { impl });
        const values = await y.data();
        y.dispose();
        return values;
      };
      const first = await run(); // warm-up (shader compiles, kernel setup)
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const s = performance.now();
        await run();
        times.push(performance.now() - s);
      }
      times.sort((x, y) => x - y);
      rows.push({
        backend,
        impl,
        l,
        ms: times[Math.floor(times.length / 2)],
        relError: relError(first, ref.y),
      });
    }
    tf.dispose(
      Object.values(T).filter((v) => v instanceof tf.Tensor) as tf.Tensor[],
    );
  }
}

console.log(
  `selective scan, (b, l, dIn, n) = (1, L, ${dIn}, ${n}), median of ${repeats}`,
);
console.log("| backend | impl | L | ms | rel. error vs float64 |");
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${r.impl} | ${r.l} | ${r.ms.toFixed(2)} | ${
      r.relError.toExponential(2)
    } |`,
  );
}
for (const backend of backendList) {
  for (const l of lengths) {
    const c = rows.find((r) =>
      r.backend === backend && r.impl === "chunked" && r.l === l
    )!;
    const s = rows.find((r) =>
      r.backend === backend && r.impl === "seed" && r.l === l
    )!;
    console.log(
      `${backend} L=${l}: chunked/seed time ratio ${(c.ms / s.ms).toFixed(2)}`,
    );
  }
}
await Deno.mkdir(dirname(out), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), dIn, n, b, repeats, rows },
    null,
    2,
  ),
);
console.log(`wrote ${out}`);
