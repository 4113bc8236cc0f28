import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import {
  architecture,
  classifier,
  embedding,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { loadModel, saveModel } from "../models/io.ts";
import { classifyRows, labelScores } from "./classify.ts";

await setBackend("cpu");

const clf = (head: Parameters<typeof classifier>[0]) =>
  architecture({
    name: "clf",
    nodes: [
      embedding({ vocab: 16, dim: 8 }),
      residual(),
      rmsNorm(),
      classifier(head),
    ],
  });

Deno.test("a single sigmoid output is P(class 1): class 0 gets 1 − p", () => {
  const model = buildModel(
    clf({
      pooling: "last",
      classes: 1,
      activation: "sigmoid",
      labels: ["ham", "spam"],
    }),
  );
  assert.deepEqual(labelScores(model, [0.25]), [
    { label: "ham", score: 0.75 },
    { label: "spam", score: 0.25 },
  ]);
  model.dispose();
  const unnamed = buildModel(
    clf({ pooling: "last", classes: 3, activation: "softmax" }),
  );
  assert.deepEqual(labelScores(unnamed, [0.5, 0.3, 0.2]), [
    { label: "0", score: 0.5 },
    { label: "1", score: 0.3 },
    { label: "2", score: 0.2 },
  ]);
  unnamed.dispose();
});

Deno.test("labels need one name per class (two for one sigmoid output)", () => {
  assert.throws(
    () =>
      clf({
        pooling: "last",
        classes: 1,
        activation: "sigmoid",
        labels: ["spam"],
      }),
    /nodes\[3\]\.labels: expected 2 class names \(one per class, two for one sigmoid output\), received 1 names/,
  );
  assert.throws(
    () =>
      clf({
        pooling: "last",
        classes: 3,
        activation: "softmax",
        labels: ["a", "b"],
      }),
    /nodes\[3\]\.labels: expected 3 class names \(one per class\), received 2 names/,
  );
  assert.throws(
    () =>
      clf({
        pooling: "last",
        classes: 2,
        activation: "softmax",
        labels: ["a", ""],
      }),
    /nodes\[3\]\.labels/,
  );
});

Deno.test("labels are saved with the model and come back with it", async () => {
  const model = buildModel(
    clf({
      pooling: "mean",
      classes: 2,
      activation: "softmax",
      labels: ["negative", "positive"],
    }),
    { seed: 2 },
  );
  const dir = await Deno.makeTempDir();
  try {
    await saveModel(model, dir);
    const saved = JSON.parse(
      await Deno.readTextFile(`${dir}/architecture.json`),
    );
    assert.deepEqual(saved.nodes.at(-1).labels, ["negative", "positive"]);
    const back = await loadModel(dir);
    const [row] = await classifyRows(back, [[1, 2, 3]]);
    const want = Array.from(model.forward([[1, 2, 3]]).dataSync());
    const scores = labelScores(back, row);
    assert.deepEqual(scores.map((s) => s.label), ["negative", "positive"]);
    scores.forEach((s, c) => assert.ok(Math.abs(s.score - want[c]) <= 1e-6));
    back.dispose();
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
