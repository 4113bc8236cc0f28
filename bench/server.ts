/**
 * Server throughput: 64 concurrent clients each asking `POST /v1/generate`
 * for greedy tokens from the `long` fixture, over real HTTP on loopback.
 * Prints total generated tokens/s and request latency percentiles; writes JSON.
 *
 * Usage: deno run -A bench/server.ts [--backend wasm] [--clients 64]
 *        [--tokens 32] [--prompt 16] [--out bench/results/server.json]
 *
 * @module
 */
import parser from "yargs-parser";
import { type BackendName, setBackend } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { serve } from "../infer/server.ts";

const args = parser(Deno.args, { string: ["backend", "out"] });
const backend = String(args.backend ?? "wasm") as BackendName;
const clients = Number(args.clients ?? 64);
const tokens = Number(args.tokens ?? 32);
const promptLength = Number(args.prompt ?? 16);
const out = String(args.out ?? "bench/results/server.json");

await setBackend(backend);
const model = await loadModel(
  new URL("../tests/fixtures/hf-mamba/long", import.meta.url).pathname,
);
const server = serve({ model, port: 0 });
const url = `http://127.0.0.1:${server.port}/v1/generate`;

async function client(i: number): Promise<{ ms: number; generated: number }> {
  const input_ids = Array.from(
    { length: promptLength },
    (_, j) => (i * 31 + j * 7) % 512,
  );
  const start = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input_ids, max_new_tokens: tokens }),
  });
  if (!response.ok) {
    throw new Error(
      `client ${i}: HTTP ${response.status}: ${await response.text()}`,
    );
  }
  const body = await response.json();
  return { ms: performance.now() - start, generated: body.output_ids.length };
}

await client(0); // warm-up
const start = performance.now();
const results = await Promise.all(
  Array.from({ length: clients }, (_, i) => client(i)),
);
const wall = performance.now() - start;
await server.shutdown();
model.dispose();

const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
const generated = results.reduce((s, r) => s + r.generated, 0);
const summary = {
  date: new Date().toISOString(),
  backend,
  clients,
  promptTokens: promptLength,
  maxNewTokens: tokens,
  generated,
  wallMs: wall,
  tokensPerS: generated / (wall / 1000),
  requestsPerS: clients / (wall / 1000),
  latencyMs: {
    p50: pct(0.5),
    p95: pct(0.95),
    max: latencies[latencies.length - 1],
  },
};
console.log(
  `| backend | clients | tokens generated | wall s | tokens/s | requests/s | p50 ms | p95 ms |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
console.log(
  `| ${backend} | ${clients} | ${generated} | ${(wall / 1000).toFixed(2)} | ${
    summary.tokensPerS.toFixed(1)
  } | ${summary.requestsPerS.toFixed(2)} | ${
    summary.latencyMs.p50.toFixed(0)
  } | ${summary.latencyMs.p95.toFixed(0)} |`,
);
await Deno.writeTextFile(out, JSON.stringify(summary, null, 2));
console.log(`wrote ${out}`);
