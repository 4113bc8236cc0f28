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
import { loadCheckpoint } from "./checkpoint.ts";
import { resolveConfig, type TrainConfig } from "./config.ts";
import { loadClassData, loadLmData } from "./data/source.ts";
import { evaluate, type LoopResult, trainLoop } from "./loop.ts";
import { writeCurves } from "./_curves.ts";
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
      `${archPath}: seqLen: the architecture fixes ${architecture.seqLen}, received --seqLen=${seqLen}`,
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

  let model: MambaModel;
  let resume;
  const resumeDir = c.resume === false
    ? undefined
    : c.resume === true
    ? `${outDir}/checkpoints/last`
    : c.resume;
  if (resumeDir) {
    resume = await loadCheckpoint(resumeDir);
    model = resume.model;
    log(`resumed from ${resumeDir} at step ${resume.trainer.step}`);
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
    resumeDir,
  });
  const bestDir = `${outDir}/checkpoints/best`;
  if (loop.best.step > 0 && loop.best.step !== loop.step) {
    model.dispose();
    model = await loadModel(bestDir);
    log(`restored the best checkpoint (step ${loop.best.step})`);
    // The summary's validation column describes the model that is saved.
    loop.validation = await evaluate(model, data, "validation", {
      c,
      tokenizer,
      seqLen,
    });
  }
  const test = await evaluate(model, data, "test", { c, tokenizer, seqLen });
  const saved: RunResult["saved"] = { native: `${outDir}/model` };
  await saveModel(model, saved.native, { format: "native" });
  await tokenizer.save(saved.native);
  if (c.hf) {
    try {
      await saveModel(model, `${outDir}/model-hf`, { format: "hf" });
      await tokenizer.save(`${outDir}/model-hf`);
      saved.hf = `${outDir}/model-hf`;
    } catch (err) {
      log(`hf export skipped: ${(err as Error).message}`);
    }
  }
  await writeCurves(outDir, `${outDir}/metrics.jsonl`);
  log(summaryTable(loop, test));
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
 * @param loop the loop result.
 * @param test test metrics.
 * @returns a plain-text table of validation and test metrics.
 */
export function summaryTable(
  loop: LoopResult,
  test: Record<string, number>,
): string {
  const names = [
    ...new Set([...Object.keys(loop.validation ?? {}), ...Object.keys(test)]),
  ];
  const fmt = (v: number | undefined) =>
    (v === undefined ? "-" : v.toFixed(4)).padStart(12);
  return [
    `stopped: ${loop.reason} after ${loop.step} steps, ${
      loop.elapsed.toFixed(1)
    } s${loop.message ? ` (${loop.message})` : ""}`,
    `${"metric".padEnd(10)}${"validation".padStart(12)}${"test".padStart(12)}`,
    ...names.map((n) =>
      `${n.padEnd(10)}${fmt(loop.validation?.[n])}${fmt(test[n])}`
    ),
  ].join("\n");
}
