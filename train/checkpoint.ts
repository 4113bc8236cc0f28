/**
 * Training checkpoints: the model (native format: architecture.json +
 * model.safetensors), its tokenizer, the optimizer moments
 * (optimizer.safetensors) and the trainer state (trainer.json: step, data
 * position, RNG state, best metric). `last` and `best` are kept under
 * `<out>/checkpoints/`.
 *
 * Writes are atomic: a checkpoint is written whole into a temporary folder,
 * fsynced, and renamed into place (`_atomic_dir.ts`); `best` is written
 * before the `last` that records it, and {@linkcode recoverCheckpoints}
 * repairs what a `kill -9` at any instant leaves, so `--resume` always finds
 * a whole `last` and the `best` it names.
 *
 * Reference: nanoGPT `train.py` (ckpt.pt with model, optimizer, iter_num,
 * best_val_loss), made atomic.
 *
 * @module
 */
import { z } from "zod";
import { loadModel, saveModel } from "../models/io.ts";
import type { MambaModel } from "../models/types.ts";
import {
  readSafetensors,
  type SafeTensorInput,
  writeSafetensors,
} from "../models/safetensors.ts";
import type { AdamWState } from "./optim.ts";
import type { TextTokenizer } from "./tokenizers.ts";
import { killPoint, recoverDir, writeDirAtomic } from "./_atomic_dir.ts";

/**
 * Trainer state stored in `trainer.json` (its shape; a file read back is
 * checked by {@linkcode validateTrainerState}, which also bounds the values).
 */
export const TrainerStateSchema = z.strictObject({
  version: z.literal(1),
  /** Optimizer steps done. */
  step: z.number().int().nonnegative(),
  /** Data position: `{epoch, index}` (classification) or an RNG state (LM). */
  data: z.union([
    z.strictObject({
      epoch: z.number().int().nonnegative(),
      index: z.number().int().nonnegative(),
    }),
    z.tuple([z.number(), z.number(), z.number(), z.number()]),
  ]),
  /** Best value of the early-stopping metric so far, and when. */
  best: z.strictObject({
    value: z.number().nullable(),
    step: z.number().int(),
  }),
  /** Evaluations since the best one (early stopping). */
  badEvals: z.number().int().nonnegative(),
  /** Training seconds spent before this checkpoint. */
  elapsed: z.number().nonnegative(),
});

/** Trainer state stored in `trainer.json`. */
export type TrainerState = z.infer<typeof TrainerStateSchema>;

/** A checkpoint read back. */
export interface Checkpoint {
  /** The model with the checkpoint's weights. */
  model: MambaModel;
  /** AdamW's step count and moments. */
  optimizer: AdamWState;
  /** Step, data position, best metric and time spent (`trainer.json`). */
  trainer: TrainerState;
}

/**
 * Writes a checkpoint folder atomically: into a temporary folder, fsynced,
 * then renamed into place (see `_atomic_dir.ts`); a `kill -9` at any instant
 * leaves the old or the new checkpoint, and {@linkcode recoverCheckpoints}
 * finishes a replacement that was cut short.
 * @param dir destination, e.g. `out/checkpoints/last`.
 * @param parts model, tokenizer, optimizer state, trainer state.
 */
export async function saveCheckpoint(
  dir: string,
  parts: {
    model: MambaModel;
    tokenizer: TextTokenizer;
    optimizer: AdamWState;
    trainer: TrainerState;
  },
): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    await saveModel(parts.model, tmp, { format: "native" });
    killPoint();
    await parts.tokenizer.save(tmp);
    killPoint();
    const tensors: Record<string, SafeTensorInput> = {};
    for (const [name, data] of parts.optimizer.m) {
      tensors[`m.${name}`] = { data, shape: [data.length] };
    }
    for (const [name, data] of parts.optimizer.v) {
      tensors[`v.${name}`] = { data, shape: [data.length] };
    }
    await writeSafetensors(`${tmp}/optimizer.safetensors`, tensors, {
      metadata: { step: String(parts.optimizer.step) },
    });
    killPoint();
    // Written last: a folder with a valid trainer.json is whole.
    await Deno.writeTextFile(
      `${tmp}/trainer.json`,
      JSON.stringify(parts.trainer, null, 2),
    );
  });
}

/**
 * Copies a checkpoint folder atomically (used to bring `last` up to a newer
 * `best`).
 * @param from the checkpoint to copy.
 * @param to the destination, replaced atomically.
 */
export async function copyCheckpoint(from: string, to: string): Promise<void> {
  await writeDirAtomic(to, async (tmp) => {
    for await (const entry of Deno.readDir(from)) {
      if (entry.isFile) {
        await Deno.copyFile(`${from}/${entry.name}`, `${tmp}/${entry.name}`);
        killPoint();
      }
    }
  });
}

/** Limits a `trainer.json` is checked against besides its own consistency. */
export interface TrainerLimits {
  /** The run's total optimizer steps (`--steps`): `step` may not exceed it. */
  steps?: number;
}

/**
 * Checks a parsed `trainer.json`: every field present with its type, integers
 * in range, numbers finite, `step` at most the run's steps, `best.step` and
 * `badEvals` at most `step`.
 * @param raw the parsed JSON.
 * @param path the file, for messages.
 * @param limits the run's steps.
 * @returns the state.
 * @throws Error naming the file and the key, e.g. `…/trainer.json: field
 *   "step": expected an integer from 0 to 20 (--steps), received 1000000000`.
 */
export function validateTrainerState(
  raw: unknown,
  path: string,
  limits: TrainerLimits = {},
): TrainerState {
  const show = (v: unknown) =>
    typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
  const fail = (key: string, expected: string, v: unknown): never => {
    throw new Error(
      `${path}: field "${key}": expected ${expected}, received ${show(v)}`,
    );
  };
  const object = (key: string, v: unknown, keys: string[]) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      fail(key, `an object with ${keys.join(", ")}`, v);
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) {
        throw new Error(
          `${path}: field "${
            key === "(root)" ? k : `${key}.${k}`
          }": unknown; expected only ${keys.join(", ")}`,
        );
      }
    }
    return o;
  };
  const int = (key: string, v: unknown, max: number, why = "") => {
    if (
      typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max
    ) fail(key, `an integer from 0 to ${max}${why}`, v);
    return v as number;
  };
  const finite = (key: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      fail(key, "a finite number", v);
    }
    return v as number;
  };
  const o = object("(root)", raw, [
    "version",
    "step",
    "data",
    "best",
    "badEvals",
    "elapsed",
  ]);
  if (o.version !== 1) fail("version", "1", o.version);
  const maxStep = limits.steps ?? Number.MAX_SAFE_INTEGER;
  const step = int(
    "step",
    o.step,
    maxStep,
    limits.steps === undefined ? "" : " (the run's --steps)",
  );
  let data: TrainerState["data"];
  if (Array.isArray(o.data)) {
    if (o.data.length !== 4) {
      fail("data", "4 unsigned 32-bit words (an RNG state)", o.data);
    }
    o.data.forEach((w, i) => int(`data.${i}`, w, 0xffffffff));
    data = o.data as [number, number, number, number];
  } else {
    const d = object("data", o.data, ["epoch", "index"]);
    data = {
      epoch: int("data.epoch", d.epoch, Number.MAX_SAFE_INTEGER),
      index: int("data.index", d.index, Number.MAX_SAFE_INTEGER),
    };
  }
  const b = object("best", o.best, ["value", "step"]);
  const value = b.value === null ? null : finite("best.value", b.value);
  const bestStep = int("best.step", b.step, step, " (step)");
  if (value === null && bestStep !== 0) {
    fail("best.step", "0 while best.value is null", bestStep);
  }
  const badEvals = int("badEvals", o.badEvals, step, " (step)");
  const elapsed = finite("elapsed", o.elapsed);
  if (elapsed < 0) fail("elapsed", "a number ≥ 0", elapsed);
  return {
    version: 1,
    step,
    data,
    best: { value, step: bestStep },
    badEvals,
    elapsed,
  };
}

/**
 * Reads and checks `<dir>/trainer.json`.
 * @param dir a checkpoint folder.
 * @param limits the run's steps.
 * @returns the trainer state.
 * @throws Error naming the file and the key at fault.
 */
export async function readTrainerState(
  dir: string,
  limits: TrainerLimits = {},
): Promise<TrainerState> {
  const trainerPath = `${dir}/trainer.json`;
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(trainerPath));
  } catch (err) {
    throw new Error(
      `${trainerPath}: expected the trainer state as JSON: ${
        (err as Error).message
      }`,
    );
  }
  return validateTrainerState(raw, trainerPath, limits);
}

/** What {@linkcode recoverCheckpoints} found and did. */
export interface Recovery {
  /** Trainer state of `last` after recovery (null: none). */
  last: TrainerState | null;
  /** Trainer state of `best` after recovery (null: none). */
  best: TrainerState | null;
  /** What was repaired, one line each. */
  notes: string[];
}

/**
 * Brings `<ckptDir>/last` and `<ckptDir>/best` to a consistent state after a
 * killed run: replacements cut short are finished (or undone), temporary
 * folders removed, and a `best` newer than `last` (killed between the two
 * saves of one evaluation: `best` is written first) is copied to `last`.
 * @param ckptDir the checkpoints folder.
 * @returns the trainer states of `last` and `best` and what was repaired.
 */
export async function recoverCheckpoints(ckptDir: string): Promise<Recovery> {
  const whole = async (dir: string) => {
    try {
      await readTrainerState(dir);
      return true;
    } catch {
      return false;
    }
  };
  const notes: string[] = [];
  const state = async (name: string) =>
    (await recoverDir(`${ckptDir}/${name}`, whole))
      ? await readTrainerState(`${ckptDir}/${name}`)
      : null;
  let last = await state("last");
  const best = await state("best");
  if (best && (!last || best.step > last.step)) {
    await copyCheckpoint(`${ckptDir}/best`, `${ckptDir}/last`);
    notes.push(
      `${ckptDir}/last: brought up to ${ckptDir}/best (step ${best.step}), saved just before the run was stopped`,
    );
    last = best;
  }
  return { last, best, notes };
}

/**
 * Reads a checkpoint folder back (the model on the active backend).
 * @param dir the folder written by {@linkcode saveCheckpoint}.
 * @param limits the run's steps (`trainer.json`'s step may not exceed them).
 * @returns model, optimizer state, trainer state.
 * @throws Error naming the file and the field or tensor at fault.
 */
export async function loadCheckpoint(
  dir: string,
  limits: TrainerLimits = {},
): Promise<Checkpoint> {
  try {
    await Deno.stat(dir);
  } catch {
    throw new Error(
      `--resume: expected a checkpoint folder, received ${
        JSON.stringify(dir)
      } (not found)`,
    );
  }
  const trainer = await readTrainerState(dir, limits);
  const optPath = `${dir}/optimizer.safetensors`;
  let tensors;
  try {
    tensors = (await readSafetensors(optPath)).tensors;
  } catch (err) {
    throw new Error(`${optPath}: ${(err as Error).message}`);
  }
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) {
      throw new Error(
        `${optPath}: tensor "${name}": expected F32, received ${t.dtype}`,
      );
    }
    const bad = t.data.findIndex((x) =>
      !Number.isFinite(x) || (name.startsWith("v.") && x < 0)
    );
    if (bad >= 0) {
      throw new Error(
        `${optPath}: tensor "${name}": expected finite moments${
          name.startsWith("v.") ? " ≥ 0" : ""
        }, received ${t.data[bad]} at index ${bad}`,
      );
    }
    if (name.startsWith("m.")) m.set(name.slice(2), t.data);
    else if (name.startsWith("v.")) v.set(name.slice(2), t.data);
    else {throw new Error(
        `${optPath}: tensor "${name}": expected a name starting with "m." or "v."`,
      );}
  }
  const model = await loadModel(dir);
  return {
    model,
    optimizer: { step: trainer.step, m, v },
    trainer,
  };
}
