import assert from "node:assert/strict";
import { TrainConfigSchema } from "./config.ts";
import type { LoopResult } from "./loop.ts";
import { summaryTable } from "./run.ts";
import {
  runEstimate,
  runPlan,
  stepsForEpochs,
  stopLine,
  validationBatches,
} from "./_plan.ts";

const loop = (o: Partial<LoopResult>): LoopResult => ({
  step: 12,
  reason: "steps",
  losses: [],
  best: { value: 0.9, step: 10 },
  elapsed: 31,
  ...o,
});

Deno.test("stopLine says in words why a run stopped", () => {
  assert.equal(
    stopLine(loop({ step: 20 }), 20),
    "finished: all 20 steps in 31.0 s",
  );
  assert.equal(
    stopLine(loop({ reason: "stop-after" }), 20),
    "stopped at step 12 of 20, as --stop-after asked (continue with --resume), after 31.0 s",
  );
  assert.match(
    stopLine(loop({ reason: "time" }), 330),
    /^stopped at step 12 of 330: the --max-minutes limit was reached/,
  );
  assert.match(
    stopLine(loop({ reason: "early-stop" }), 20),
    /stopped early at step 12 of 20: .*best at step 10/,
  );
  const table = summaryTable(loop({ reason: "stop-after" }), {}, 20);
  assert.doesNotMatch(table, /stopped: (steps|time) after/);
});

Deno.test("--epochs: steps from the training-set size and the batch; the plan names steps, tokens, epochs", () => {
  // The article: 10 epochs of 25,000 reviews at batch 32; the classifier
  // stream drops the short tail, 781 batches an epoch.
  const o = { batchSize: 32, accumSteps: 1, wholeBatches: true };
  assert.equal(stepsForEpochs(10, 25000, o), 7810);
  assert.equal(stepsForEpochs(1, 4836, { ...o, batchSize: 16 }), 302);
  assert.equal(
    stepsForEpochs(1, 4836, { ...o, batchSize: 16, accumSteps: 4 }),
    76,
  );
  assert.equal(
    stepsForEpochs(0.5, 100, { ...o, batchSize: 8, wholeBatches: false }),
    7,
  );
  assert.equal(stepsForEpochs(0.001, 100, o), 1);
  const c = TrainConfigSchema.parse({
    steps: 7810,
    epochs: 10,
    evalEvery: 781,
  });
  assert.equal(
    runPlan(c, { trainRows: 25000, seqLen: 128, kind: "classify" }),
    "plan: 7,810 steps × 32 examples × 128 tokens = 31,989,760 tokens, 10.00 epochs of 25,000 training examples (--epochs=10); 10 evaluations (every 781 steps); a time estimate follows the first steps",
  );
});

Deno.test("validation during training is proportionate: a 20-step run validates on 320 examples, the README's 330-step run on all 605", () => {
  const spam = { batchSize: 16, lr: 3e-3, evalEvery: 110, steps: 330 };
  assert.equal(
    validationBatches(TrainConfigSchema.parse(spam)) * 16 >= 605,
    true,
  );
  assert.equal(
    validationBatches(TrainConfigSchema.parse({ ...spam, steps: 20 })),
    20,
  );
  assert.equal(
    validationBatches(TrainConfigSchema.parse({ ...spam, evalBatches: 3 })),
    3,
  );
  // At least 256 rows even when evaluating every step.
  assert.equal(
    validationBatches(TrainConfigSchema.parse({ batchSize: 4, evalEvery: 1 })),
    64,
  );
});

Deno.test("runEstimate: the time for the steps and evaluations left", () => {
  const c = TrainConfigSchema.parse({
    steps: 330,
    evalEvery: 110,
    maxMinutes: 9,
  });
  assert.equal(
    runEstimate(1.4, 4, c, 38),
    "estimate: 1.40 s/step → about 8:30 for the 326 steps left and 3 evaluations",
  );
  assert.match(
    runEstimate(2, 4, c, 38),
    /about 12:08 .* \(more than --max-minutes=9: the run will stop early\)$/,
  );
});
