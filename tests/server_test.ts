import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import { loadServedModel } from "../infer/load.ts";
import { serve } from "../infer/server.ts";
import { fixtureDir, greedyFixture } from "./_infer_fixtures.ts";

await setBackend("cpu");

const served = await loadServedModel(fixtureDir("tiny"));
const server = serve({
  model: served.model,
  defaultStopTokenIds: served.stopTokenIds,
  port: 0,
  limits: { maxConcurrent: 64, maxBatch: 16, maxNewTokens: 256 },
});
const url = `http://127.0.0.1:${server.port}`;
const generate = async (body: unknown) => {
  const res = await fetch(`${url}/v1/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
};

Deno.test("greedy output over HTTP equals the fixture's greedy_ids", async () => {
  const { prompt, expected } = await greedyFixture("tiny");
  const { status, json } = await generate({
    input_ids: prompt,
    max_new_tokens: expected.length,
  });
  assert.equal(status, 200);
  assert.deepEqual(json.output_ids, expected);
  assert.equal(json.usage.completion_tokens, expected.length);
});

Deno.test("64 concurrent requests are all answered, identical to sequential runs", async () => {
  const bodies = Array.from({ length: 64 }, (_, i) => ({
    input_ids: Array.from(
      { length: 1 + (i % 7) },
      (_, j) => (i * 31 + j * 7) % 256,
    ),
    max_new_tokens: 4 + (i % 5),
    ...(i % 2 ? { temperature: 0.9, top_k: 40, seed: i } : {}),
  }));
  const sequential: { status: number; json: { output_ids: number[] } }[] = [];
  for (const b of bodies) sequential.push(await generate(b));
  const concurrent = await Promise.all(bodies.map(generate));
  concurrent.forEach((r, i) => {
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(
      r.json.output_ids,
      sequential[i].json.output_ids,
      `request ${i}`,
    );
  });
});

Deno.test("out-of-vocab ids are a 400 naming the id, and the server keeps serving", async () => {
  const bad = await generate({ input_ids: [1, 256], max_new_tokens: 2 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, "input_ids.1");
  assert.match(bad.json.error.message, /\[0, 256\), received 256/);
  const ok = await generate({ input_ids: [1, 255], max_new_tokens: 2 });
  assert.equal(ok.status, 200);
});

Deno.test({
  name: "shutdown",
  fn: async () => {
    await server.shutdown();
    served.model.dispose();
  },
});
