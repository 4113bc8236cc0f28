/**
 * `deno task train` end to end: architecture file → options (printed) →
 * backend → tokenizer → data → model (fresh or resumed) → loop → best
 * weights → test metrics → saved model (native + Hugging Face) → curves and
 * a summary table.
 *
 * Reference: nanoGPT `train.py`; the article's config → tokenizer → IMDB →
 * `model.fit` workflow.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { setBackend, tf } from "../kernels/backend.ts";
import { validateArchitecture } from "../dsl/builder.ts";
import type { Architecture } from "../dsl/schema.ts";
import { buildModel } from "../models/model.ts";
import { loadModel, saveModel } from "../models/io.ts";
import type { MambaModel } from "../models/types.ts";
import {
  loadCheckpoint,
  readTrainerState,
  recoverCheckpoints,
  type TrainerState,
} from "./checkpoint.ts";
import { resolveConfig, type TrainConfig } from "./config.ts";
import { loadClassData, loadLmData } from "./data/source.ts";
import { evaluate, type LoopResult, trainLoop } from "./loop.ts";
import {
  runPlan,
  stepsForEpochs,
  stopLine,
  validationBatches,
} from "./_plan.ts";
import { writeCurves } from "./_curves.ts";
import { writeDirAtomic } from "./_atomic_dir.ts";
import { checkVocab, loadTokenizer } from "./tokenizers.ts";

/** What {@linkcode runTraining} returns. */
export interface RunResult {
  /** The resolved options (defaults → file → overrides). */
  config: TrainConfig;
  /** Folder holding checkpoints, metrics, curves and the saved model. */
  outDir: string;
  /** What the training loop reported. */
  loop: LoopResult;
  /** Test metrics of the saved (best) model. */
  test: Record<string, number>;
  /** Folders the model was saved to. */
  saved: { native: string; hf?: string };
}

/**
 * Reads an architecture file: a `.ts`/`.js` module whose default export is
 * the architecture (and optional `export const training`), or a `.json` file
 * (with an optional top-level `"training"` object).
 * @param path the file.
 * @returns the validated architecture and the file's training options.
 */
export async function readArchitectureFile(
  path: string,
): Promise<{ architecture: Architecture; training: unknown }> {
  let raw: unknown;
  let training: unknown;
  if (/\.json$/i.test(path)) {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(await Deno.readTextFile(path));
    } catch (err) {
      throw new Error(
        `${path}: expected an architecture as JSON: ${(err as Error).message}`,
      );
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new Error(
        `${path}: expected an architecture as a JSON object, received ${
          Array.isArray(obj) ? "an array" : JSON.stringify(obj)
        }`,
      );
    }
    const { training: t, ...rest } = obj;
    training = t;
    raw = rest;
  } else {
    const abs = isAbsolute(path) ? path : resolve(Deno.cwd(), path);
    const mod = await import(pathToFileURL(abs).href);
    if (mod.default === undefined) {
      throw new Error(`${path}: expected a default export (the architecture)`);
    }
    raw = mod.default;
    training = mod.training;
  }
  try {
    return { architecture: validateArchitecture(raw), training };
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

/**
 * Trains the model an architecture file describes.
 * @param archPath the architecture file.
 * @param overrides typed `--key=value` options.
 * @param log where the printed lines go (default console.log).
 * @returns config, output folder, loop result, test metrics, saved folders.
 * @example
 * ```ts
 * await runTraining("examples/spam_classifier.ts", { steps: 10 });
 * ```
 */
export async function runTraining(
  archPath: string,
  overrides: Record<string, unknown>,
  log: (line: string) => void = console.log,
): Promise<RunResult> {
  const { architecture, training } = await readArchitectureFile(archPath);
  const c = resolveConfig(training, overrides, archPath);
  const outDir = c.out || `out/${architecture.name}`;
  log(`architecture: ${archPath} (${architecture.name})`);
  log(`options: ${JSON.stringify({ ...c, out: outDir })}`);
  const backend = await setBackend(c.backend);
  const head = architecture.nodes[architecture.nodes.length - 1];
  const task = c.task === "auto"
    ? (head.kind === "classifier" ? "classify" : "lm")
    : c.task;
  if ((task === "classify") !== (head.kind === "classifier")) {
    throw new Error(
      `${archPath}: task: expected "${
        head.kind === "classifier" ? "classify" : "lm"
      }" for a ${head.kind} head, received "${task}"`,
    );
  }
  const tokenizer = await loadTokenizer(c.tokenizer);
  const embed = architecture.nodes[0] as { kind: string; vocab: number };
  checkVocab(tokenizer, embed.vocab, archPath);
  const seqLen = c.seqLen || architecture.seqLen || 256;
  if (architecture.seqLen && seqLen !== architecture.seqLen) {
    throw new Error(
      `${archPath}: seqLen: the architecture fixes ${architecture.seqLen}, received --seq-len=${seqLen} (leave --seq-len out, or change the architecture)`,
    );
  }
  const classes = head.kind === "classifier" ? Math.max(2, head.classes) : 0;
  const data = task === "classify"
    ? await loadClassData(c, classes)
    : await loadLmData(c, tokenizer);
  log(
    data.kind === "classify"
      ? `data: ${c.data} — train ${data.train.length}, validation ${data.validation.length}, test ${data.test.length} examples`
      : `data: ${c.data} — train ${data.train.ids.length}, validation ${data.validation.ids.length}, test ${data.test.ids.length} tokens`,
  );
  log(
    `backend: ${backend}, tokenizer: ${tokenizer.kind} (vocab ${tokenizer.vocabSize}), seqLen ${seqLen}`,
  );
  const trainRows = data.kind === "classify"
    ? data.train.length
    : Math.floor(data.train.ids.length / (seqLen + 1));
  if (c.epochs > 0) {
    c.steps = stepsForEpochs(c.epochs, trainRows, {
      batchSize: c.batchSize,
      accumSteps: c.accumSteps,
      wholeBatches: data.kind === "classify",
    });
  }
  const validationRows = data.kind === "classify"
    ? data.validation.length
    : Math.floor(data.validation.ids.length / (seqLen + 1));
  log(runPlan(c, { trainRows, seqLen, kind: data.kind, validationRows }));

  let model: MambaModel;
  let resume;
  const resumeDir = c.resume === false
    ? undefined
    : c.resume === true
    ? `${outDir}/checkpoints/last`
    : c.resume;
  let fresh = !resumeDir;
  if (c.resume === true) {
    // Repair what a killed run left: a replacement cut short, a best/ newer
    // than last/, temporary folders.
    const ckptDir = `${outDir}/checkpoints`;
    const recovery = await recoverCheckpoints(ckptDir);
    for (const note of recovery.notes) log(`recovered: ${note}`);
    if (!recovery.last) {
      let started = false;
      try {
        started = (await Deno.stat(ckptDir)).isDirectory;
      } catch { /* not started */ }
      if (!started) {
        throw new Error(
          `--resume: expected a checkpoint folder, received ${
            JSON.stringify(resumeDir)
          } (not found)`,
        );
      }
      log(
        `--resume: ${ckptDir} holds no checkpoint yet (stopped before the first one); starting at step 0`,
      );
      fresh = true;
    }
  }
  if (!fresh) {
    resume = await loadCheckpoint(resumeDir!, { steps: c.steps });
    model = resume.model;
    if (JSON.stringify(model.architecture) !== JSON.stringify(architecture)) {
      model.dispose();
      throw new Error(
        `--resume: ${resumeDir}/architecture.json: expected the architecture of ${archPath}, received a different one (${
          firstDifference(model.architecture, architecture)
        }); resume with the file the run started with, or start a new run`,
      );
    }
    if (c.resume === true) await reconcileBest(resume.trainer, outDir, log);
    log(`resumed from ${resumeDir} at step ${resume.trainer.step}`);
    if (resume.trainer.step >= c.steps) {
      log(
        `the checkpoint is at the run's last step (${c.steps}): nothing to train; testing and saving the model`,
      );
    }
  } else {
    model = buildModel(architecture, { seed: c.seed });
  }
  const nParams = [...model.params.values()].reduce((a, v) => a + v.size, 0);
  log(`parameters: ${nParams}`);

  const loop = await trainLoop(model, {
    config: c,
    tokenizer,
    data,
    seqLen,
    outDir,
    resume,
    resumeDir: resume ? resumeDir : undefined,
  });
  const bestDir = `${outDir}/checkpoints/best`;
  if (loop.best.step > 0 && loop.best.step !== loop.step) {
    model.dispose();
    model = await loadModel(bestDir);
    log(`restored the best checkpoint (step ${loop.best.step})`);
    // The summary's validation column describes the model that is saved.
    loop.validation = loop.bestValidation ??
      await evaluate(model, data, "validation", {
        c,
        tokenizer,
        seqLen,
        maxBatches: validationBatches(c),
      });
  }
  if (!loop.validation && validationRows > 0) {
    // A resume at the last step trained nothing: the column still describes
    // the saved model.
    loop.validation = await evaluate(model, data, "validation", {
      c,
      tokenizer,
      seqLen,
      maxBatches: validationBatches(c),
    });
  }
  const test = await evaluate(model, data, "test", { c, tokenizer, seqLen });
  const saved: RunResult["saved"] = { native: `${outDir}/model` };
  // Whole or not at all, like the checkpoints: a kill mid-save leaves the
  // previous folder (and --resume writes it again).
  await writeDirAtomic(saved.native, async (tmp) => {
    await saveModel(model, tmp, { format: "native" });
    await tokenizer.save(tmp);
  });
  if (c.hf === true || (c.hf === "auto" && head.kind === "lm_head")) {
    try {
      await writeDirAtomic(`${outDir}/model-hf`, async (tmp) => {
        await saveModel(model, tmp, { format: "hf" });
        await tokenizer.save(tmp);
      });
      saved.hf = `${outDir}/model-hf`;
    } catch (err) {
      log(
        `no Hugging Face folder written: ${
          (err as Error).message
        } (the native folder ${saved.native} has the model)`,
      );
    }
  }
  await writeCurves(outDir, `${outDir}/metrics.jsonl`);
  log(summaryTable(loop, test, c.steps));
  log(
    `saved: ${saved.native}${
      saved.hf ? `, ${saved.hf}` : ""
    }; curves: ${outDir}/loss.{svg,png}, ${outDir}/metric.{svg,png}`,
  );
  model.dispose();
  tf.disposeVariables();
  return { config: c, outDir, loop, test, saved };
}

/**
 * Makes the resumed best record name the checkpoint best/ holds (a run of an
 * earlier version wrote last/ before best/ and could be killed in between).
 */
async function reconcileBest(
  trainer: TrainerState,
  outDir: string,
  log: (line: string) => void,
): Promise<void> {
  const bestDir = `${outDir}/checkpoints/best`;
  let held: TrainerState | null = null;
  try {
    held = await readTrainerState(bestDir);
  } catch { /* no best/ */ }
  if (held && held.step <= trainer.step) {
    if (held.step !== trainer.best.step) {
      log(
        `recovered: the best record said step ${trainer.best.step}; ${bestDir} holds step ${held.step}, which is kept`,
      );
      trainer.best = { ...held.best, step: held.step };
    }
  } else if (!held && trainer.best.step > 0) {
    log(
      `recovered: the best record said step ${trainer.best.step}; ${bestDir} is missing, so the best is chosen anew`,
    );
    trainer.best = { value: null, step: 0 };
  }
}

/**
 * @param loop the loop result.
 * @param test test metrics.
 * @param total the run's planned steps.
 * @returns a plain-text table of validation and test metrics.
 */
export function summaryTable(
  loop: LoopResult,
  test: Record<string, number>,
  total?: number,
): string {
  const names = [
    ...new Set([...Object.keys(loop.validation ?? {}), ...Object.keys(test)]),
  ];
  const fmt = (v: number | undefined) =>
    (v === undefined ? "-" : v.toFixed(4)).padStart(12);
  return [
    stopLine(loop, total ?? loop.step),
    `${"metric".padEnd(10)}${"validation".padStart(12)}${"test".padStart(12)}`,
    ...names.map((n) =>
      `${n.padEnd(10)}${fmt(loop.validation?.[n])}${fmt(test[n])}`
    ),
  ].join("\n");
}

/** The first path where two JSON values differ, as "path: a vs b". */
function firstDifference(a: unknown, b: unknown, path = ""): string {
  if (
    typeof a === "object" && a !== null && typeof b === "object" && b !== null
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const x = (a as Record<string, unknown>)[k];
      const y = (b as Record<string, unknown>)[k];
      if (JSON.stringify(x) !== JSON.stringify(y)) {
        return firstDifference(
          x,
          y,
          Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k,
        );
      }
    }
  }
  return `${path || "(root)"}: ${JSON.stringify(a)} in the checkpoint, ${
    JSON.stringify(b)
  } in the file`;
}
