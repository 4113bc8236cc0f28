/**
 * The training loop: AdamW over streamed batches with gradient accumulation,
 * clipping, warmup + cosine, evaluation every N steps, best/last checkpoints,
 * early stopping, a NaN/Inf guard, metrics appended as JSONL.
 *
 * Deterministic: dropout seeds and data order derive from the seed and the
 * step, and a checkpoint stores the optimizer moments and the data position,
 * so `--resume` reproduces an uninterrupted run's losses exactly.
 *
 * Reference: nanoGPT `train.py`.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { parameterSpecs } from "../models/init.ts";
import type { MambaModel } from "../models/types.ts";
import { mixSeed, type RngState } from "./_rng.ts";
import {
  type Checkpoint,
  saveCheckpoint,
  type TrainerState,
} from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import {
  type ClassBatch,
  type ClassPosition,
  ClassStream,
  type LmBatch,
  LmStream,
} from "./data/batches.ts";
import type { LabeledText } from "./data/files.ts";
import {
  type EvalMetrics,
  evaluateClassifier,
  evaluateLm,
} from "./evaluate.ts";
import { classificationLoss, lmLoss } from "./metrics.ts";
import { accumulate, AdamW, clipGlobalNorm, lrAt } from "./optim.ts";
import { Progress } from "./progress.ts";
import { evalBatchCount, runEstimate, validationBatches } from "./_plan.ts";
import type { TextTokenizer } from "./tokenizers.ts";

/** Data for a classifier. */
export interface ClassData {
  /** Tag of a classifier's data. */
  kind: "classify";
  /** Training examples. */
  train: LabeledText[];
  /** Examples evaluated during training (best checkpoint, early stop). */
  validation: LabeledText[];
  /** Examples evaluated once, after training. */
  test: LabeledText[];
  /** Number of classes (2 for a one-output sigmoid head). */
  classes: number;
}

/** Token streams for a language model. */
export interface LmData {
  /** Tag of a language model's data. */
  kind: "lm";
  /** Training tokens and the UTF-8 bytes they encode. */
  train: { ids: Int32Array; bytes: number };
  /** Validation tokens and their bytes (for bits per byte). */
  validation: { ids: Int32Array; bytes: number };
  /** Test tokens and their bytes. */
  test: { ids: Int32Array; bytes: number };
}

/** Everything the loop needs besides the model. */
export interface LoopOptions {
  /** The run's options, defaults filled in. */
  config: TrainConfig;
  /** The tokenizer the data was encoded with. */
  tokenizer: TextTokenizer;
  /** The split data. */
  data: ClassData | LmData;
  /** Sequence length in use. */
  seqLen: number;
  /** Output folder (checkpoints/, metrics.jsonl). */
  outDir: string;
  /** A checkpoint to continue from (its model is the `model` argument). */
  resume?: Checkpoint;
  /** The folder the checkpoint came from, for messages. */
  resumeDir?: string;
}

/** How a run ended. */
export interface LoopResult {
  /** Optimizer steps done. */
  step: number;
  /**
   * Why it stopped: "steps" (all done), "stop-after" (`--stop-after`),
   * "time" (`--max-minutes`), "early-stop" or "non-finite".
   */
  reason: "steps" | "stop-after" | "time" | "early-stop" | "non-finite";
  /** Message for a non-finite stop. */
  message?: string;
  /** Training loss of each step (in this process). */
  losses: number[];
  /** Last validation metrics (`runTraining` replaces them with the restored best model's). */
  validation?: EvalMetrics;
  /** Best value of the early-stopping metric and its step. */
  best: { value: number | null; step: number };
  /** Validation metrics of the best step, when it was evaluated in this process. */
  bestValidation?: EvalMetrics;
  /** Seconds of training, resumed time included. */
  elapsed: number;
}

/** Lower is better for these metrics. */
const LOWER = new Set(["val_loss", "val_bpb"]);

/**
 * Runs the loop until `config.steps`, the time limit, early stopping or a
 * non-finite loss.
 * @param model the model (classifier or LM head, matching `options.data`).
 * @param options config, tokenizer, data, output folder, resume state.
 * @returns how it ended.
 */
export async function trainLoop(
  model: MambaModel,
  options: LoopOptions,
): Promise<LoopResult> {
  const { config: c, tokenizer, data, seqLen, outDir } = options;
  const ckptDir = `${outDir}/checkpoints`;
  await Deno.mkdir(ckptDir, { recursive: true });
  const metricsPath = `${outDir}/metrics.jsonl`;
  const optimizer = new AdamW(model.params, {
    lr: c.lr,
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    weightDecay: c.weightDecay,
  });
  const enc = { seqLen, padSide: c.padSide, truncateSide: c.truncateSide };
  const stream = data.kind === "classify"
    ? new ClassStream(data.train, tokenizer, {
      ...enc,
      batchSize: c.batchSize,
      seed: c.seed,
    })
    : new LmStream(data.train.ids, {
      batchSize: c.batchSize,
      seqLen,
      seed: c.seed,
    });
  let step = 0;
  let best: { value: number | null; step: number } = { value: null, step: 0 };
  let badEvals = 0;
  let elapsedBefore = 0;
  if (options.resume) {
    const r = options.resume;
    optimizer.load(
      r.optimizer,
      `${options.resumeDir ?? ckptDir + "/last"}/optimizer.safetensors`,
    );
    step = r.trainer.step;
    const where = `${options.resumeDir ?? ckptDir + "/last"}/trainer.json`;
    if (stream instanceof ClassStream) {
      const d = r.trainer.data;
      if (Array.isArray(d)) {
        throw new Error(
          `${where}: field "data": expected {epoch, index} for a classifier run, received an RNG state (a language-model checkpoint?)`,
        );
      }
      const examples = stream.examples.length;
      if (d.index > examples) {
        throw new Error(
          `${where}: field "data.index": expected an integer from 0 to ${examples} (training examples), received ${d.index}`,
        );
      }
      const maxEpoch = step * c.accumSteps;
      if (d.epoch > maxEpoch) {
        throw new Error(
          `${where}: field "data.epoch": expected an integer from 0 to ${maxEpoch} (step × accumSteps), received ${d.epoch}`,
        );
      }
      stream.position = d as ClassPosition;
    } else {
      if (!Array.isArray(r.trainer.data)) {
        throw new Error(
          `${where}: field "data": expected an RNG state (4 words) for a language-model run, received {epoch, index} (a classifier checkpoint?)`,
        );
      }
      stream.position = r.trainer.data as RngState;
    }
    best = r.trainer.best;
    badEvals = r.trainer.badEvals;
    elapsedBefore = r.trainer.elapsed;
    await truncateMetrics(metricsPath, step);
  } else {
    await Deno.writeTextFile(metricsPath, "");
  }
  const metricName = c.earlyStop === "none" ? "val_loss" : c.earlyStop;
  // Gradients in the architecture's creation order: a model loaded from a
  // checkpoint lists its parameters in file order, and the global norm's
  // float sum must not depend on it (else a resumed run drifts by an ulp).
  const rank = new Map(
    [...parameterSpecs(model.resolved).keys()].map((n, i) => [n, i]),
  );
  const at = (name: string) => rank.get(name) ?? Number.MAX_SAFE_INTEGER;
  const nameToVar = [...model.params]
    .sort(([a], [b]) => at(a) - at(b) || (a < b ? -1 : 1))
    .map(([name, v]) => [v.name, name] as const);
  const vars = [...model.params.values()];
  const progress = new Progress(c.steps, {
    mode: c.progress,
    every: c.logEvery,
  });
  const start = performance.now();
  let tokens = 0;
  const losses: number[] = [];
  let validation: EvalMetrics | undefined;
  let bestValidation: EvalMetrics | undefined;
  const valBatches = validationBatches(c);
  const valRows = data.kind === "classify"
    ? data.validation.length
    : Math.floor(data.validation.ids.length / (seqLen + 1));
  if (valRows === 0) {
    progress.log(
      "no validation set (--validation=0): no evaluation during training, no best checkpoint; the model saved is the last step's",
    );
  }
  const valNote = valBatches * c.batchSize < valRows
    ? ` (first ${valBatches * c.batchSize} of ${valRows} validation ${
      data.kind === "classify" ? "examples" : "windows"
    })`
    : "";
  const elapsed = () => elapsedBefore + (performance.now() - start) / 1000;
  const append = (row: Record<string, unknown>) =>
    Deno.writeTextFile(metricsPath, JSON.stringify(row) + "\n", {
      append: true,
    });
  const trainerState = (): TrainerState => ({
    version: 1,
    step,
    data: stream.position,
    best,
    badEvals,
    elapsed: elapsed(),
  });
  let reason: LoopResult["reason"] = "steps";
  let message: string | undefined;
  // The time estimate: printed after a few timed steps past the first.
  const firstStep = step + 1;
  const estimateAt = firstStep + 2; // two timed steps
  let paceStart = performance.now();

  while (step < c.steps) {
    let sum: Map<string, tf.Tensor> | undefined;
    let lossSum = 0;
    for (let k = 0; k < c.accumSteps; k++) {
      const batch = stream.next();
      const seed = mixSeed(c.seed, step * c.accumSteps + k + 1);
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(batch.ids, {
          training: true,
          seed,
          raw: true,
        });
        return data.kind === "classify"
          ? classificationLoss(out, (batch as ClassBatch).labels)
          : lmLoss(out, (batch as LmBatch).targets);
      }, vars);
      lossSum += (await value.data())[0];
      value.dispose();
      const named = new Map<string, tf.Tensor>();
      for (const [varName, name] of nameToVar) named.set(name, grads[varName]);
      sum = accumulate(sum, named);
      tokens += batch.ids.length * seqLen;
    }
    const loss = lossSum / c.accumSteps;
    if (c.accumSteps > 1) {
      for (const [name, g] of sum!) {
        sum!.set(name, tf.div(g, c.accumSteps));
        g.dispose();
      }
    }
    const norm = await clipGlobalNorm(sum!, c.clip);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      tf.dispose([...sum!.values()]);
      reason = "non-finite";
      message = `step ${step + 1}: ${
        Number.isFinite(loss) ? "gradient norm" : "loss"
      } is ${
        Number.isFinite(loss) ? norm : loss
      }; stopped without applying the update; the last good checkpoint is ${ckptDir}/last`;
      progress.log(message);
      break;
    }
    const lr = lrAt(step, {
      lr: c.lr,
      warmupSteps: c.warmupSteps,
      totalSteps: c.steps,
      minLr: c.minLr,
    });
    optimizer.apply(sum!, lr);
    tf.dispose([...sum!.values()]);
    step++;
    losses.push(loss);
    const tps = tokens / ((performance.now() - start) / 1000);
    progress.update({ step, loss, tokensPerSec: tps, elapsed: elapsed() });
    await append({
      type: "train",
      step,
      loss,
      lr,
      grad_norm: norm,
      tokens_per_s: tps,
      time_s: elapsed(),
    });

    const stopNow = step === c.stopAfter
      ? "stop-after"
      : c.maxMinutes > 0 && elapsed() >= c.maxMinutes * 60
      ? "time"
      : null;
    const end = c.stopAfter > 0 ? Math.min(c.stopAfter, c.steps) : c.steps;
    if (step === estimateAt && step < end) {
      // Steps after the first (which includes tfjs' warm-up) give the pace.
      const perStep = (performance.now() - paceStart) / 1000 /
        (step - firstStep);
      progress.log(
        runEstimate(perStep, step, c, evalBatchCount(valRows, c)),
      );
    }
    if (step === firstStep) paceStart = performance.now();
    if (step % c.evalEvery === 0 || step === c.steps || stopNow) {
      const row: Record<string, number> = {};
      if (valRows > 0) {
        validation = await evaluate(model, data, "validation", {
          c,
          tokenizer,
          seqLen,
          maxBatches: valBatches,
        });
        for (const [k, v] of Object.entries(validation)) row[`val_${k}`] = v;
        await append({ type: "eval", step, ...row, time_s: elapsed() });
        progress.log(
          `eval step ${step}${valNote}: ${
            Object.entries(row).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(
              " ",
            )
          }`,
        );
      }
      const value = row[metricName];
      const improved = value !== undefined && (best.value === null ||
        (LOWER.has(metricName) ? value < best.value : value > best.value));
      if (improved) {
        best = { value, step };
        bestValidation = validation;
        badEvals = 0;
      } else if (value !== undefined) badEvals++;
      const parts = {
        model,
        tokenizer,
        optimizer: await optimizer.state(),
        trainer: trainerState(),
      };
      // best first: a `last` never names a best step that best/ lacks (a kill
      // between the two leaves a newer best/, which resume copies to last).
      if (improved) await saveCheckpoint(`${ckptDir}/best`, parts);
      await saveCheckpoint(`${ckptDir}/last`, parts);
      if (c.earlyStop !== "none" && c.patience > 0 && badEvals >= c.patience) {
        reason = "early-stop";
        progress.log(
          `early stop at step ${step}: ${metricName} did not improve for ${badEvals} evaluations (best ${best.value} at step ${best.step})`,
        );
        break;
      }
    }
    if (stopNow) {
      reason = stopNow;
      break;
    }
  }
  progress.done();
  optimizer.dispose();
  return {
    step,
    reason,
    message,
    losses,
    validation,
    bestValidation,
    best,
    elapsed: elapsed(),
  };
}

/**
 * Evaluates on one split of the data.
 * @returns metrics without prefix (loss, accuracy, f1 / ppl, bpb).
 */
export function evaluate(
  model: MambaModel,
  data: ClassData | LmData,
  split: "validation" | "test",
  o: {
    c: TrainConfig;
    tokenizer: TextTokenizer;
    seqLen: number;
    /** Cap on batches (default: all). */
    maxBatches?: number;
  },
): Promise<EvalMetrics> {
  const maxBatches = o.maxBatches ?? 0;
  if (data.kind === "classify") {
    return evaluateClassifier(model, data[split], {
      tokenizer: o.tokenizer,
      seqLen: o.seqLen,
      padSide: o.c.padSide,
      truncateSide: o.c.truncateSide,
      batchSize: o.c.batchSize,
      maxBatches,
      classes: data.classes,
    });
  }
  return evaluateLm(model, data[split], {
    seqLen: o.seqLen,
    batchSize: o.c.batchSize,
    maxBatches,
  });
}

async function truncateMetrics(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const keep = text.split("\n").filter((line) => {
    if (line.trim() === "") return false;
    try {
      return JSON.parse(line).step <= step;
    } catch {
      return false;
    }
  });
  await Deno.writeTextFile(path, keep.map((l) => l + "\n").join(""));
}
