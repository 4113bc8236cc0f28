/**
 * `POST /v1/classify` with a real classifier model over HTTP: probabilities
 * equal the model's own forward on the input as training encodes it (cut to
 * seqLen, left-padded), for one and several inputs; an id outside the
 * vocabulary is a 400 naming input_ids (a wrong head: infer/server_test.ts);
 * each class's probability comes with the classifier's label names.
 */
import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import {
  architecture,
  classifier,
  embedding,
  mamba,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { byteTokenizer } from "../train/tokenizers.ts";
import { encodeFixed } from "../train/data/batches.ts";
import { serve } from "../infer/server.ts";

await setBackend("cpu");

Deno.test({
  name:
    "/v1/classify answers what the model computes on training-encoded input",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const model = buildModel(
    architecture({
      name: "clf",
      seqLen: 24,
      nodes: [
        embedding({ vocab: 256, dim: 16 }),
        residual({ mixer: mamba({ dState: 4 }) }),
        rmsNorm(),
        classifier({
          pooling: "mean",
          classes: 3,
          activation: "softmax",
          labels: ["spam", "work", "other"],
        }),
      ],
    }),
    { seed: 3 },
  );
  const tokenizer = byteTokenizer();
  const server = serve({ model, tokenizer, port: 0 });
  try {
    const texts = [
      "free money, click now!!!",
      "meeting moved to 3pm; agenda attached, see you there",
    ];
    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${server.port}/v1/classify`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const wants = texts.map((text) => {
      const ids = encodeFixed(tokenizer, text, {
        seqLen: 24,
        padSide: "left",
        truncateSide: "right",
      });
      return Array.from(model.forward([ids]).dataSync());
    });
    const res = await post({ text: texts });
    assert.equal(res.status, 200);
    const { probabilities, scores, labels } = await res.json();
    assert.equal(probabilities.length, 2);
    // Each class's name from the classifier's labels, beside its probability.
    assert.deepEqual(labels, ["spam", "work", "other"]);
    assert.deepEqual(
      scores,
      probabilities.map((row: number[]) =>
        row.map((score, c) => ({ label: labels[c], score }))
      ),
    );
    const info = await (await fetch(`http://127.0.0.1:${server.port}/v1/model`))
      .json();
    assert.deepEqual(info.labels, ["spam", "work", "other"]);
    assert.deepEqual(info.architecture.nodes.at(-1).labels, labels);
    for (const [i, want] of wants.entries()) {
      assert.equal(probabilities[i].length, 3);
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(probabilities[i][c] - want[c]) <= 1e-6);
      }
      assert.ok(
        Math.abs(
          probabilities[i].reduce((a: number, b: number) => a + b, 0) - 1,
        ) < 1e-5,
      );
    }
    const one = await post({ text: texts[1] });
    assert.equal(one.status, 200);
    const single = (await one.json()).probabilities;
    assert.equal(single.length, 1);
    assert.equal(single[0].length, 3);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(single[0][c] - wants[1][c]) <= 1e-6);
    }
    const bad = await post({ input_ids: [1, 300] });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /input_ids/);
  } finally {
    await server.shutdown();
    model.dispose();
  }
});
