import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { byteTokenizer } from "../train/tokenizers.ts";
import { generate } from "./generate.ts";
import type { InferenceInputError } from "./options.ts";
import { logSoftmax } from "./sampling.ts";
import { TextStream } from "./_text_stream.ts";
import { fakeModel } from "./_test_model.ts";

await setBackend("cpu");

/** Oracle: greedy decoding that re-runs the whole prefix every token. */
async function slowGreedy(model: MambaModel, prompt: number[], n: number) {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = model.forward([seq]) as tf.Tensor3D; // (1, l, v)
    const row = await logits.slice([0, seq.length - 1, 0], [1, 1, -1]).data();
    logits.dispose();
    seq.push(row.indexOf(Math.max(...row)));
  }
  return seq.slice(prompt.length);
}

const prompts = [[3], [1, 4, 1, 5, 9, 2, 6], [2, 7], [8, 8, 8, 1]];

Deno.test("greedy recurrent decode equals re-running the prefix", async () => {
  const model = fakeModel();
  for (const p of prompts) {
    const [r] = await generate(model, [p], { maxNewTokens: 10 });
    assert.deepEqual(r.outputIds, await slowGreedy(model, p, 10));
    assert.equal(r.finishReason, "length");
  }
  model.dispose();
});

Deno.test("batched prompts of different lengths each give what they give alone", async () => {
  const model = fakeModel();
  for (
    const options of [
      { maxNewTokens: 9 },
      { maxNewTokens: 9, temperature: 1.3, topK: 8, seed: 11 },
      { maxNewTokens: 9, topP: 0.9, repetitionPenalty: 1.3, seed: 5 },
    ]
  ) {
    const alone = [];
    for (const p of prompts) {
      alone.push((await generate(model, [p], options))[0]);
    }
    const together = await generate(model, prompts, options);
    const queued = await generate(model, prompts, { ...options, maxBatch: 2 });
    for (let i = 0; i < prompts.length; i++) {
      assert.deepEqual(
        together[i].outputIds,
        alone[i].outputIds,
        `prompt ${i}`,
      );
      assert.deepEqual(queued[i].outputIds, alone[i].outputIds, `prompt ${i}`);
    }
  }
  model.dispose();
});

Deno.test("generation leaks no tensors", async () => {
  const model = fakeModel();
  const before = tf.memory().numTensors;
  await generate(model, prompts, { maxNewTokens: 6, stopTokenIds: [3] });
  await generate(model, [[1, 2]], { maxNewTokens: 6, numBeams: 3 });
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("a stop token id ends a sequence and is kept in the output", async () => {
  const model = fakeModel();
  const [free] = await generate(model, [[1, 4]], { maxNewTokens: 12 });
  const stopAt = free.outputIds[4];
  const first = free.outputIds.indexOf(stopAt);
  const [r] = await generate(model, [[1, 4]], {
    maxNewTokens: 12,
    stopTokenIds: [stopAt],
  });
  assert.deepEqual(r.outputIds, free.outputIds.slice(0, first + 1));
  assert.equal(r.finishReason, "stop");
  model.dispose();
});

Deno.test("streamed tokens arrive in order and match the result", async () => {
  const model = fakeModel();
  const seen: number[][] = [[], []];
  const results = await generate(model, [[1], [2, 3]], {
    maxNewTokens: 5,
    onToken: (i, e) => {
      assert.equal(e.index, seen[i].length);
      seen[i].push(e.token);
    },
  });
  assert.deepEqual(seen, results.map((r) => r.outputIds));
  model.dispose();
});

Deno.test("beam search with one beam is greedy; with every beam it is exhaustive", async () => {
  const model = fakeModel(5, 3, 1);
  const [greedy] = await generate(model, [[1, 2]], { maxNewTokens: 6 });
  const [one] = await generate(model, [[1, 2]], {
    maxNewTokens: 6,
    numBeams: 1,
  });
  assert.deepEqual(one.outputIds, greedy.outputIds);
  // Oracle: log-probability of every 2-token continuation, by prefix re-runs.
  let best = { ids: [] as number[], lp: -Infinity };
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < 5; b++) {
      const logits = model.forward([[1, 2, a]]) as tf.Tensor3D; // (1, 3, v)
      const data = await logits.data();
      logits.dispose();
      const lp = logSoftmax(data.slice(5, 10))[a] +
        logSoftmax(data.slice(10, 15))[b];
      if (lp > best.lp) best = { ids: [a, b], lp };
    }
  }
  const [beam] = await generate(model, [[1, 2]], {
    maxNewTokens: 2,
    numBeams: 5,
  });
  assert.deepEqual(beam.outputIds, best.ids);
  assert.ok(Math.abs(beam.hypotheses![0].logProb - best.lp) < 1e-5);
  model.dispose();
});

Deno.test("beam search finishes hypotheses on stop ids and applies the length penalty", async () => {
  const model = fakeModel(8, 4, 2);
  const [r] = await generate(model, [[1]], {
    maxNewTokens: 8,
    numBeams: 3,
    stopTokenIds: [0, 5],
    earlyStopping: true,
    lengthPenalty: 2,
  });
  assert.equal(r.hypotheses!.length, 3);
  for (const h of r.hypotheses!) {
    assert.ok(Math.abs(h.score - h.logProb / h.outputIds.length ** 2) < 1e-12);
    const stopAt = h.outputIds.findIndex((t) => t === 0 || t === 5);
    assert.ok(
      stopAt === -1 || stopAt === h.outputIds.length - 1,
      "a stop id only at the end",
    );
  }
  const scores = r.hypotheses!.map((h) => h.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
  model.dispose();
});

Deno.test("bad prompts are rejected naming the field", async () => {
  const model = fakeModel();
  await assert.rejects(
    () => generate(model, [[1], [2, 99]]),
    (e: InferenceInputError) =>
      e.field === "prompts[1].1" && /\[0, 16\), received 99/.test(e.message),
  );
  await assert.rejects(
    () => generate(model, [[]]),
    /prompts\[0\]: expected at least 1/,
  );
  await assert.rejects(() => generate(model, ["hi"]), /no tokenizer/);
  await assert.rejects(
    () => generate(model, [[1]], { maxNewTokens: -1 }),
    (e: InferenceInputError) => e.field === "maxNewTokens",
  );
  model.dispose();
});

Deno.test("text stream holds back partial UTF-8 and stop-string prefixes", () => {
  const tok = byteTokenizer();
  const s = new TextStream(tok, ["END"]);
  const ids = tok.encode("hé E");
  const pieces = ids.map((id) => s.push(id));
  assert.deepEqual(pieces, ["h", "", "é", " ", ""]); // "é" is 2 bytes; "E" may start "END"
  assert.equal(s.push(tok.encode("x")[0]), "Ex");
  assert.deepEqual(tok.encode("yEN").map((id) => s.push(id)), ["y", "", ""]);
  assert.equal(s.stopped, false);
  assert.equal(s.push(tok.encode("D")[0]), ""); // "EN" was the stop string's start
  assert.equal(s.stopped, true);
  assert.equal(s.text, "hé Exy");
  assert.equal(s.push(65), "");
});
