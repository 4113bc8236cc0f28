import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { byteTokenizer } from "../train/tokenizers.ts";
import { generate } from "./generate.ts";
import { serve, type ServeOptions } from "./server.ts";
import { fakeModel } from "./_test_model.ts";

await setBackend("cpu");

type Model = MambaModel & { steps: number };

/** The fake model with an lm_head architecture and a step counter. */
function countingModel(vocab = 16): Model {
  const inner = fakeModel(vocab);
  const model = {
    ...inner,
    steps: 0,
    step(ids, state) {
      model.steps++;
      return inner.step(ids, state);
    },
  } as Model;
  return model;
}

async function withServer(
  options: Omit<ServeOptions, "port">,
  body: (url: string) => Promise<void>,
) {
  const server = serve({ ...options, port: 0 });
  try {
    await body(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.shutdown();
  }
}

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

Deno.test("bad requests get 4xx JSON naming the field, and the server keeps serving", async () => {
  const model = countingModel();
  await withServer(
    { model, limits: { maxBodyBytes: 2000, maxNewTokens: 64 } },
    async (url) => {
      const cases: [unknown, number, string][] = [
        ["{not json", 400, "body"],
        [[1, 2], 400, "(body)"],
        [{ input_ids: "1,2" }, 400, "input_ids"],
        [{ input_ids: [1], max_new_tokens: -3 }, 400, "max_new_tokens"],
        [{ input_ids: [1], max_new_tokens: 1e9 }, 400, "max_new_tokens"],
        [{ input_ids: [1], max_new_tokens: 2.5 }, 400, "max_new_tokens"],
        [{ input_ids: [1, 99] }, 400, "input_ids.1"],
        [{ input_ids: [] }, 400, "input_ids"],
        [{ prompt: "" }, 400, "prompt"],
        [{ prompt: "hi" }, 400, "prompt"], // no tokenizer
        [{}, 400, "prompt"],
        [{ input_ids: [1], temperature: "hot" }, 400, "temperature"],
        [{ input_ids: [1], top_p: 1.5 }, 400, "top_p"],
        [{ input_ids: [1], colour: "red" }, 400, "(body)"],
        [{ input_ids: [1], stop: ["x"] }, 400, "stop"],
        [{ input_ids: [1], num_beams: 2, stream: true }, 400, "stream"],
        [{ input_ids: Array(1000).fill(1) }, 413, "body"],
      ];
      for (const [body, status, field] of cases) {
        const res = await post(`${url}/v1/generate`, body);
        const json = await res.json();
        assert.equal(res.status, status, JSON.stringify(body).slice(0, 60));
        assert.equal(json.error.field, field, json.error.message);
        assert.ok(json.error.message.length > 0);
      }
      const classify = await post(`${url}/v1/classify`, { input_ids: [1] });
      assert.equal(classify.status, 400);
      assert.equal((await classify.json()).error.field, "model");
      const missing = await fetch(`${url}/v1/nothing`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const ok = await post(`${url}/v1/generate`, {
        input_ids: [1, 2],
        max_new_tokens: 3,
      });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).output_ids.length, 3);
    },
  );
  model.dispose();
});

Deno.test("prompt tokens and tokens per request over the limits: 413 naming the limit", async () => {
  const model = countingModel();
  await withServer(
    { model, limits: { maxPromptTokens: 4, maxRequestTokens: 10 } },
    async (url) => {
      const long = await post(`${url}/v1/generate`, {
        input_ids: [1, 2, 3, 4, 5],
      });
      assert.equal(long.status, 413);
      const e1 = (await long.json()).error;
      assert.equal(e1.field, "input_ids");
      assert.match(
        e1.message,
        /at most 4 tokens .*--max-prompt-tokens.*received 5/,
      );
      const costly = await post(`${url}/v1/generate`, {
        input_ids: [1, 2, 3],
        max_new_tokens: 8,
      });
      assert.equal(costly.status, 413);
      const e2 = (await costly.json()).error;
      assert.match(
        e2.message,
        /at most 10 tokens per request .*--max-request-tokens.*3 prompt tokens \+ 8 new tokens = 11/,
      );
      const beams = await post(`${url}/v1/generate`, {
        input_ids: [1],
        max_new_tokens: 4,
        num_beams: 3,
      });
      assert.equal(beams.status, 413);
      assert.match(
        (await beams.json()).error.message,
        /4 new tokens × 3 beams = 13/,
      );
      const ok = await post(`${url}/v1/generate`, {
        input_ids: [1, 2, 3],
        max_new_tokens: 7,
      });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).output_ids.length, 7);
    },
  );
  model.dispose();
});

Deno.test("responses carry usage and equal the library's generate", async () => {
  const model = countingModel(256);
  const tokenizer = byteTokenizer();
  await withServer({ model, tokenizer }, async (url) => {
    const options = { max_new_tokens: 6, temperature: 0.9, top_k: 20, seed: 3 };
    const res = await post(`${url}/v1/generate`, { prompt: "ab", ...options });
    const json = await res.json();
    const [lib] = await generate(model, ["ab"], {
      tokenizer,
      maxNewTokens: 6,
      temperature: 0.9,
      topK: 20,
      seed: 3,
    });
    assert.deepEqual(json.output_ids, lib.outputIds);
    assert.equal(json.text, lib.text);
    assert.deepEqual(json.usage, {
      prompt_tokens: 2,
      completion_tokens: 6,
      total_tokens: 8,
    });
    const info = await (await fetch(`${url}/v1/model`)).json();
    assert.equal(info.backend, "cpu");
    assert.equal(info.tokenizer, "byte");
    assert.equal((await (await fetch(`${url}/healthz`)).json()).status, "ok");
  });
  model.dispose();
});

Deno.test("streaming sends tokens before the last one is generated", async () => {
  const model = countingModel();
  await withServer({ model }, async (url) => {
    const res = await post(`${url}/v1/generate`, {
      input_ids: [1, 2],
      max_new_tokens: 200,
      stream: true,
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let stepsAtFirstToken = -1;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (stepsAtFirstToken < 0 && value.includes('data: {"token"')) {
        stepsAtFirstToken = model.steps;
      }
      text += value;
    }
    assert.ok(
      stepsAtFirstToken >= 0 && stepsAtFirstToken < 199,
      `${stepsAtFirstToken}`,
    );
    const events = text.trim().split("\n\n");
    const tokens = events.filter((e) => e.startsWith("data:")).map((e) =>
      JSON.parse(e.slice(5)).token
    );
    const done = events.at(-1)!;
    assert.ok(done.startsWith("event: done\n"));
    assert.deepEqual(tokens, JSON.parse(done.split("\ndata: ")[1]).output_ids);
    assert.equal(tokens.length, 200);
  });
  model.dispose();
});

Deno.test("requests over the concurrency limit get 429; shutdown waits for in-flight ones", async () => {
  const model = countingModel();
  const server = serve({ model, port: 0, limits: { maxConcurrent: 2 } });
  const url = `http://127.0.0.1:${server.port}/v1/generate`;
  const body = { input_ids: [1], max_new_tokens: 120 };
  const responses = await Promise.all(
    Array.from({ length: 6 }, () => post(url, body)),
  );
  const statuses = responses.map((r) => r.status).sort();
  await Promise.all(responses.map((r) => r.json()));
  assert.ok(statuses.includes(429) && statuses.includes(200), `${statuses}`);
  const stepsBefore = model.steps;
  const slow = post(url, body);
  // Shut down once the request is being decoded (a fixed sleep raced the
  // connection on a loaded machine: "connection refused").
  while (model.steps === stepsBefore) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const stopped = server.shutdown();
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal((await answer.json()).output_ids.length, 120);
  await stopped;
  model.dispose();
});

Deno.test("a shutdown that times out still closes the listener", async () => {
  const model = countingModel();
  const server = serve({
    model,
    port: 0,
    drainTimeoutMs: 50,
    limits: { maxNewTokens: 100_000, maxRequestTokens: 200_000 },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const slow = post(`${base}/v1/generate`, {
    input_ids: [1],
    max_new_tokens: 3000,
  }).then((r) => r.text(), (e) => e);
  while (model.steps === 0) await new Promise((r) => setTimeout(r, 1));
  assert.equal(await server.shutdown(), false);
  await assert.rejects(
    fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) }),
    /fetch failed|refused/i, // not answered: the listener is closed
  );
  await slow;
  model.dispose();
});
