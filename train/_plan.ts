/**
 * What a run will do and how long it will take: steps from `--epochs`, the
 * plan line printed before training, the validation cap, the time estimate
 * printed after the first steps, and the line that says why a run stopped.
 *
 * @module
 */
import type { TrainConfig } from "./config.ts";
import type { LoopResult } from "./loop.ts";
import { formatDuration } from "./progress.ts";

/**
 * Says in words why the loop stopped.
 * @param loop the loop result.
 * @param total the run's planned steps.
 * @returns e.g. "stopped at step 12 of 20, as --stop-after asked (continue
 *   with --resume), after 31.0 s".
 */
export function stopLine(loop: LoopResult, total: number): string {
  const time = `${loop.elapsed.toFixed(1)} s`;
  switch (loop.reason) {
    case "steps":
      return `finished: all ${loop.step} steps in ${time}`;
    case "stop-after":
      return `stopped at step ${loop.step} of ${total}, as --stop-after asked (continue with --resume), after ${time}`;
    case "time":
      return `stopped at step ${loop.step} of ${total}: the --max-minutes limit was reached after ${time}`;
    case "early-stop":
      return `stopped early at step ${loop.step} of ${total}: the validation metric stopped improving (best at step ${loop.best.step}), after ${time}`;
    case "non-finite":
      return `stopped at step ${loop.step} of ${total} after ${time}: ${
        loop.message ?? "a non-finite loss"
      }`;
  }
}

/**
 * Says what a run will do before it starts: steps, rows, tokens, epochs,
 * evaluations.
 * @param c the resolved options (steps already derived from --epochs).
 * @param o training rows (examples or LM windows), sequence length, task.
 * @returns one line.
 */
export function runPlan(
  c: TrainConfig,
  o: {
    trainRows: number;
    seqLen: number;
    kind: "classify" | "lm";
    /** Validation rows (0: no evaluations); default: some. */
    validationRows?: number;
  },
): string {
  const rows = c.steps * c.batchSize * c.accumSteps;
  const unit = o.kind === "classify" ? "examples" : "windows";
  const epochs = rows / Math.max(1, o.trainRows);
  const evals = Math.ceil(c.steps / c.evalEvery);
  const n = (x: number) => x.toLocaleString("en-US");
  return `plan: ${n(c.steps)} steps × ${
    c.batchSize * c.accumSteps
  } ${unit} × ${o.seqLen} tokens = ${n(rows * o.seqLen)} tokens, ${
    epochs.toFixed(2)
  } epochs of ${n(o.trainRows)} training ${unit}${
    c.epochs > 0 ? ` (--epochs=${c.epochs})` : ""
  }; ${
    o.validationRows === 0
      ? `no evaluation (no validation set), a checkpoint every ${c.evalEvery} steps`
      : `${evals} evaluation${
        evals === 1 ? "" : "s"
      } (every ${c.evalEvery} steps)`
  }${c.stopAfter > 0 ? `; stopping after step ${c.stopAfter}` : ""}${
    c.maxMinutes > 0 ? `; at most ${c.maxMinutes} min` : ""
  }; a time estimate follows the first steps`;
}

/**
 * Optimizer steps for a number of passes over the training set.
 * @param epochs passes (may be fractional).
 * @param trainRows training examples (or LM windows).
 * @param o batch size, accumulation steps, and whether an epoch is whole
 *   batches only (the classifier stream drops a short tail each epoch).
 * @returns ⌈epochs × batches per epoch / accumSteps⌉, at least 1.
 * @example
 * ```ts
 * // The article's IMDB run: 10 epochs of 25,000 reviews, batch 32.
 * stepsForEpochs(10, 25000, { batchSize: 32, accumSteps: 1, wholeBatches: true }); // 7810
 * ```
 */
export function stepsForEpochs(
  epochs: number,
  trainRows: number,
  o: { batchSize: number; accumSteps: number; wholeBatches: boolean },
): number {
  const perEpoch = o.wholeBatches
    ? Math.floor(trainRows / o.batchSize)
    : trainRows / o.batchSize;
  return Math.max(1, Math.ceil((epochs * perEpoch) / o.accumSteps - 1e-9));
}

/**
 * Validation batches per evaluation during training: `evalBatches`, or when
 * 0 as many rows as the training steps between two evaluations see (at
 * least 256), so that validating costs less than training; a 20-step run
 * does not validate on thousands of examples each time.
 * @param c the options.
 * @returns the cap on batches.
 */
export function validationBatches(c: TrainConfig): number {
  if (c.evalBatches > 0) return c.evalBatches;
  const rows = Math.max(
    256,
    Math.min(c.evalEvery, c.steps) * c.batchSize * c.accumSteps,
  );
  return Math.ceil(rows / c.batchSize);
}

/**
 * @param validationRows validation examples (or LM windows).
 * @param c the options.
 * @returns validation batches one evaluation runs.
 */
export function evalBatchCount(validationRows: number, c: TrainConfig): number {
  return Math.min(
    Math.ceil(validationRows / c.batchSize),
    validationBatches(c),
  );
}

/**
 * The line that says how long the rest of the run will take.
 * @param perStep seconds per optimizer step, measured.
 * @param step steps done.
 * @param c the options.
 * @param evalBatches validation batches per evaluation.
 * @returns the text.
 */
export function runEstimate(
  perStep: number,
  step: number,
  c: TrainConfig,
  evalBatches: number,
): string {
  const end = c.stopAfter > 0 ? Math.min(c.stopAfter, c.steps) : c.steps;
  const left = Math.max(0, end - step);
  const evals = evalBatches === 0 ? 0 : Math.floor(end / c.evalEvery) -
    Math.floor(step / c.evalEvery) + (end % c.evalEvery === 0 ? 0 : 1);
  // A forward-only batch costs about a third of a training micro-batch.
  const perEval = evalBatches * perStep / c.accumSteps / 3;
  const total = left * perStep + evals * perEval;
  const limit = c.maxMinutes > 0 ? c.maxMinutes * 60 : Infinity;
  return `estimate: ${perStep.toFixed(2)} s/step → about ${
    formatDuration(total)
  } for the ${left} step${left === 1 ? "" : "s"} left and ${evals} evaluation${
    evals === 1 ? "" : "s"
  }${
    total > limit
      ? ` (more than --max-minutes=${c.maxMinutes}: the run will stop early)`
      : ""
  }`;
}
