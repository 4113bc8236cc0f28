/**
 * Training checkpoints: the model (native format: architecture.json +
 * model.safetensors), its tokenizer, the optimizer moments
 * (optimizer.safetensors) and the trainer state (trainer.json: step, data
 * position, RNG state, best metric). `last` and `best` are kept under
 * `<out>/checkpoints/`.
 *
 * Writes are atomic: a checkpoint is written whole into a temporary folder,
 * which is then renamed into place (the previous one is moved aside first and
 * removed after), so a crash leaves either the old or the new checkpoint.
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

/** Trainer state stored in `trainer.json`. */
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
  model: MambaModel;
  optimizer: AdamWState;
  trainer: TrainerState;
}

/**
 * Writes a checkpoint folder atomically.
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
  const slash = dir.lastIndexOf("/");
  const parent = slash < 0 ? "." : dir.slice(0, slash);
  const base = dir.slice(slash + 1);
  const id = crypto.randomUUID().slice(0, 8);
  const tmp = `${parent}/.${base}.${id}.tmp`;
  const old = `${parent}/.${base}.${id}.old`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await saveModel(parts.model, tmp, { format: "native" });
    await parts.tokenizer.save(tmp);
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
    await Deno.writeTextFile(
      `${tmp}/trainer.json`,
      JSON.stringify(parts.trainer, null, 2),
    );
    let moved = false;
    try {
      await Deno.rename(dir, old);
      moved = true;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await Deno.rename(tmp, dir);
    if (moved) await Deno.remove(old, { recursive: true });
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
}

/**
 * Reads a checkpoint folder back (the model on the active backend).
 * @param dir the folder written by {@linkcode saveCheckpoint}.
 * @returns model, optimizer state, trainer state.
 * @throws Error naming the file and the field or tensor at fault.
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    await Deno.stat(dir);
  } catch {
    throw new Error(
      `--resume: expected a checkpoint folder, received ${
        JSON.stringify(dir)
      } (not found)`,
    );
  }
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
  const parsed = TrainerStateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.join(".") || "(root)";
    throw new Error(`${trainerPath}: field "${at}": ${issue.message}`);
  }
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
    if (name.startsWith("m.")) m.set(name.slice(2), t.data);
    else if (name.startsWith("v.")) v.set(name.slice(2), t.data);
    else {throw new Error(
        `${optPath}: tensor "${name}": expected a name starting with "m." or "v."`,
      );}
  }
  const model = await loadModel(dir);
  return {
    model,
    optimizer: { step: parsed.data.step, m, v },
    trainer: parsed.data,
  };
}
