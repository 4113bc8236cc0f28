import assert from "node:assert/strict";
import {
  applyRepetitionPenalty,
  argmax,
  chooseToken,
  logSoftmax,
  type SamplingConfig,
  samplingDistribution,
} from "./sampling.ts";
import { Rng } from "../models/_rng.ts";

const base: SamplingConfig = {
  greedy: false,
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
};

/** Oracle: softmax in float64, written the obvious way. */
function softmax(x: number[], temperature = 1): number[] {
  const e = x.map((v) => Math.exp(v / temperature));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

Deno.test("argmax takes the lowest index on ties", () => {
  assert.equal(argmax([1, 3, 3, 2]), 1);
  assert.equal(argmax([-5]), 0);
});

Deno.test("repetition penalty divides positive and multiplies negative logits, once per id", () => {
  const row = new Float32Array([2, -2, 1, 4]);
  applyRepetitionPenalty(row, [0, 1, 1, 1], 2);
  assert.deepEqual([...row], [1, -4, 1, 4]);
});

Deno.test("temperature alone gives softmax(x / T)", () => {
  const x = [0.5, -1, 2, 0];
  const p = samplingDistribution(x, { ...base, temperature: 0.7 });
  softmax(x, 0.7).forEach((q, i) => assert.ok(Math.abs(p[i] - q) < 1e-12));
});

Deno.test("top-k, top-p and min-p keep the expected sets and renormalise", () => {
  const x = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
  const support = (p: Float64Array) => [...p].map((v) => v > 0 ? 1 : 0);
  assert.deepEqual(support(samplingDistribution(x, { ...base, topK: 2 })), [
    1,
    1,
    0,
    0,
  ]);
  // mass 0.5 < 0.7, 0.8 ≥ 0.7 → two tokens; 0.85 needs three
  assert.deepEqual(support(samplingDistribution(x, { ...base, topP: 0.7 })), [
    1,
    1,
    0,
    0,
  ]);
  assert.deepEqual(support(samplingDistribution(x, { ...base, topP: 0.85 })), [
    1,
    1,
    1,
    0,
  ]);
  // 0.25 × 0.5 = 0.125: keeps 0.5, 0.3, 0.15
  assert.deepEqual(support(samplingDistribution(x, { ...base, minP: 0.25 })), [
    1,
    1,
    1,
    0,
  ]);
  const p = samplingDistribution(x, { ...base, topK: 3, minP: 0.5 });
  assert.ok(
    Math.abs(p[0] - 0.5 / 0.8) < 1e-12 && Math.abs(p[1] - 0.3 / 0.8) < 1e-12,
  );
});

Deno.test("seeded sampling is reproducible and follows the distribution (tolerance 0.02)", () => {
  const logits = new Float32Array([1, 0, 2, -1, 0.5]);
  const draw = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from(
      { length: 8000 },
      () => chooseToken(logits, base, [], rng),
    );
  };
  const a = draw(7);
  assert.deepEqual(a, draw(7));
  assert.notDeepEqual(a, draw(8));
  const expected = softmax([...logits]);
  expected.forEach((q, i) => {
    const f = a.filter((t) => t === i).length / a.length;
    assert.ok(
      Math.abs(f - q) < 0.02,
      `token ${i}: frequency ${f}, expected ${q}`,
    );
  });
});

Deno.test("greedy applies the repetition penalty and never draws", () => {
  const rng = new Rng(1);
  const before = rng.snapshot();
  const logits = new Float32Array([3, 2.9, 0]);
  assert.equal(chooseToken(logits, { ...base, greedy: true }, [], rng), 0);
  assert.equal(
    chooseToken(
      logits,
      { ...base, greedy: true, repetitionPenalty: 1.2 },
      [0],
      rng,
    ),
    1,
  );
  assert.deepEqual(rng.snapshot(), before);
  assert.deepEqual(logits, new Float32Array([3, 2.9, 0])); // input untouched
});

Deno.test("logSoftmax matches log(softmax) in float64", () => {
  const x = [3, -2, 0.25, 7];
  const l = logSoftmax(x);
  softmax(x).forEach((q, i) => assert.ok(Math.abs(l[i] - Math.log(q)) < 1e-12));
});
