import assert from "node:assert/strict";
import { tf } from "../kernels/backend.ts";
import {
  bitsPerByte,
  classificationLoss,
  classMetrics,
  lmLoss,
  perplexity,
  predictClasses,
} from "./metrics.ts";

Deno.test("classMetrics: accuracy and binary / macro F1", () => {
  const m = classMetrics([1, 0, 1, 1], [1, 1, 0, 1], 2);
  assert.equal(m.accuracy, 0.5);
  assert.ok(Math.abs(m.f1 - 2 / 3) < 1e-12); // tp 2, fp 1, fn 1
  const mc = classMetrics([0, 1, 2], [0, 1, 1], 3); // f1: 1, 2/3, 0
  assert.ok(Math.abs(mc.f1 - (1 + 2 / 3) / 3) < 1e-12);
});

Deno.test("losses match float64 formulas (abs 1e-5)", async () => {
  await tf.setBackend("cpu");
  const s = tf.tensor2d([[0.3], [-1.2]]);
  const got = (await classificationLoss(s, [1, 0]).data())[0];
  const sp = (x: number) => Math.log1p(Math.exp(x));
  const want = (sp(-0.3) + sp(-1.2)) / 2;
  assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
  const logits = tf.tensor3d([[[1, 2, 3], [0, 0, 0]]]);
  const lm = (await lmLoss(logits, [[2, 0]]).data())[0];
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  const wantLm = ((lse - 3) + Math.log(3)) / 2;
  assert.ok(Math.abs(lm - wantLm) < 1e-5);
  assert.deepEqual(await predictClasses(s, 0), [1, 0]);
  assert.deepEqual(await predictClasses(tf.tensor2d([[0.1, 0.7, 0.2]]), 0), [
    1,
  ]);
  assert.ok(Math.abs(bitsPerByte(Math.LN2 * 10, 5) - 2) < 1e-12);
  assert.ok(Math.abs(perplexity(Math.log(7)) - 7) < 1e-9);
});
