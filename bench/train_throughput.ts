/**
 * Training throughput (tokens/s) per backend at the article's configuration:
 * sequence 128, batch 32, d_model 128, 12 layers (dState 32, expand 2, conv 4),
 * byte vocabulary, LM loss. Prints a table and writes JSON.
 *
 * Usage: `deno run -A bench/train_throughput.ts [--backends=cpu,wasm,webgpu]
 *   [--steps=3] [--layers=12] [--batch=32] [--seq=128] [--out=bench/train_throughput.json]`
 *
 * Reference: the article's IMDB classifier shape.
 *
 * @module
 */
import parser from "yargs-parser";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { lmLoss } from "../train/metrics.ts";
import { AdamW } from "../train/optim.ts";
import { startScanPool } from "../kernels/_scan_pool.ts";

const args = parser(Deno.args);
const backends = String(args.backends ?? "cpu,wasm,webgpu").split(
  ",",
) as ("cpu" | "wasm" | "webgpu")[];
const steps = Number(args.steps ?? 3);
const layers = Number(args.layers ?? 12);
const batch = Number(args.batch ?? 32);
const seq = Number(args.seq ?? 128);
const outPath = String(args.out ?? "bench/train_throughput.json");

const arch = architecture({
  name: "bench_article",
  nodes: [
    embedding({ vocab: 256, dim: 128 }),
    repeat(layers, [
      residual({
        norm: rmsNorm(),
        mixer: mamba({ dState: 32, expand: 2, dConv: 4 }),
      }),
    ]),
    rmsNorm(),
    lmHead({ tied: true }),
  ],
});

let threads = 1;
const rows: {
  backend: string;
  tokensPerSec: number | null;
  msPerStep: number | null;
  note: string;
}[] = [];
for (const backend of backends) {
  if (backend === "webgpu" && !(await hasWebGPU())) {
    rows.push({
      backend,
      tokensPerSec: null,
      msPerStep: null,
      note: "no WebGPU adapter",
    });
    continue;
  }
  try {
    await setBackend(backend);
    const model = buildModel(arch, { seed: 0 });
    const opt = new AdamW(model.params, { lr: 1e-3 });
    const vars = [...model.params.values()];
    const names = [...model.params].map(([n, v]) => [v.name, n] as const);
    const ids = Array.from(
      { length: batch },
      (_, b) =>
        Array.from({ length: seq + 1 }, (_, t) => (b * 31 + t * 7) % 256),
    );
    const x = ids.map((r) => r.slice(0, seq));
    const y = ids.map((r) => r.slice(1));
    const one = async () => {
      const { value, grads } = tf.variableGrads(
        () => lmLoss(model.forward(x, { training: true, seed: 1 }), y),
        vars,
      );
      await value.data();
      const named = new Map(
        names.map(([v, n]) => [n, grads[v]] as [string, tf.Tensor]),
      );
      opt.apply(named, 1e-3);
      tf.dispose([value, ...named.values()]);
    };
    await one(); // warm-up: kernel compilation
    threads = await startScanPool(); // the host scan's threads (cpu, wasm)
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await one();
    const ms = (performance.now() - t0) / steps;
    rows.push({
      backend,
      tokensPerSec: (batch * seq) / (ms / 1000),
      msPerStep: ms,
      note: "",
    });
    opt.dispose();
    model.dispose();
  } catch (err) {
    rows.push({
      backend,
      tokensPerSec: null,
      msPerStep: null,
      note: (err as Error).message.slice(0, 120),
    });
  }
}

console.log(
  `training throughput: seq ${seq}, batch ${batch}, d_model 128, ${layers} layers, ${steps} timed steps, host scan on ${threads} thread(s) (MAMBA_SCAN_THREADS)`,
);
console.log(
  `${"backend".padEnd(8)}${"tokens/s".padStart(12)}${
    "ms/step".padStart(12)
  }  note`,
);
for (const r of rows) {
  console.log(
    `${r.backend.padEnd(8)}${(r.tokensPerSec?.toFixed(0) ?? "-").padStart(12)}${
      (r.msPerStep?.toFixed(0) ?? "-").padStart(12)
    }  ${r.note}`,
  );
}
await Deno.writeTextFile(
  outPath,
  JSON.stringify(
    { config: { seq, batch, dModel: 128, layers, steps, threads }, rows },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${outPath}`);
