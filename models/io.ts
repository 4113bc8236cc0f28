/**
 * Loading and saving model folders.
 *
 * Two layouts:
 * - native: `architecture.json` (the DSL data, any architecture) +
 *   `model.safetensors`;
 * - Hugging Face: `config.json` (`MambaConfig`) + `model.safetensors`, or
 *   shards listed in `model.safetensors.index.json`. Loading also accepts the
 *   original state-spaces `config.json` (`d_model`, `n_layer`, `ssm_cfg`).
 *
 * Weights keep their Hugging Face names in both, so loading is a walk over
 * names. Tokenizer files found in a folder travel with it on save.
 *
 * @module
 */
import { join } from "node:path";
import { toJSON } from "../dsl/builder.ts";
import { ensureBackend } from "../kernels/backend.ts";
import { type SafeTensorInput, writeSafetensors } from "./safetensors.ts";
import { hfConfigFromArchitecture } from "./hf_config.ts";
import { type ModelFiles, modelFromFiles } from "./_load_bytes.ts";
import { resolveModelSource } from "./hub.ts";
import type { SizeLimits } from "../dsl/sizes.ts";
import type { MambaModel } from "./types.ts";
import { exists } from "./_exists.ts";

/** Files a tokenizer may consist of; copied along when a model is saved. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
  "vocab.json",
  "merges.txt",
];

/** Where each loaded model came from: its folder and its HF config fields. */
const origins = new WeakMap<
  MambaModel,
  { dir: string; hfConfig?: Record<string, unknown> }
>();

/** Refuses a path that is missing or not a folder, saying which. */
async function requireFolder(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${dir}: cannot read (${(e as Error).message})`);
    }
    throw new Error(
      `${dir}: no such folder (expected a model folder with architecture.json or config.json, or a Hub name org/name)`,
    );
  }
  if (!info.isDirectory) {
    throw new Error(
      `${dir}: expected a model folder, received a file (loadModel takes the folder that holds it)`,
    );
  }
}

/** `op(path)`, or null when the file is missing; other errors name it. */
async function ifPresent<T>(
  path: string,
  op: (path: string) => Promise<T>,
): Promise<T | null> {
  try {
    return await op(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
}

/** A folder on disk as {@linkcode ModelFiles}: a missing file reads as null. */
function folderFiles(dir: string): ModelFiles {
  return {
    where: dir,
    path: (name) => join(dir, name),
    read: (name) => ifPresent(join(dir, name), (p) => Deno.readFile(p)),
    size: (name) =>
      ifPresent(join(dir, name), async (p) => (await Deno.stat(p)).size),
  };
}

/** Options of {@linkcode loadModel}. */
export interface LoadOptions {
  /**
   * Size limits the architecture is held to before any weight is read
   * (see `dsl/sizes.ts`; defaults fit a 24 GiB machine).
   */
  limits?: SizeLimits;
  /**
   * Load weights with NaN or infinite elements (default false: such a
   * checkpoint is refused naming the tensor, since every logit would be NaN).
   */
  allowNonFinite?: boolean;
  /**
   * A Hugging Face `mamba2` folder's gated norm: `"official"` (default:
   * per group with eps 1e-5, as state-spaces/mamba, which trained the
   * Mamba-2 checkpoints) or `"transformers"` (over the whole inner width
   * with `layer_norm_epsilon`, as transformers 5.17's torch path). They
   * differ when `n_groups` > 1.
   */
  mamba2Norm?: "official" | "transformers";
}

/**
 * Loads a model folder (native or Hugging Face), on the active backend.
 * A name `org/name[@revision]` that is not a local path is downloaded from
 * the Hugging Face Hub into its cache first (see `hub.ts`).
 *
 * @param dir the folder, or a Hub model name.
 * @param options size limits; whether non-finite weights are allowed.
 * @returns the model with its weights.
 * @throws Error naming the file and field or tensor at fault.
 * @example
 * ```ts
 * import { loadModel } from "./io.ts";
 * const model = await loadModel("tests/fixtures/hf-mamba/tiny");
 * const logits = model.forward([[1, 2, 3]]);
 * ```
 */
export async function loadModel(
  dir: string,
  options: LoadOptions = {},
): Promise<MambaModel> {
  dir = await resolveModelSource(dir); // a Hub name → its cached snapshot
  await requireFolder(dir);
  await ensureBackend(); // none chosen yet: the "auto" order, said once
  const { model, hfConfig } = await modelFromFiles(folderFiles(dir), options);
  origins.set(model, { dir, hfConfig });
  return model;
}

/** Options of {@linkcode saveModel}. */
export interface SaveOptions {
  /** `"native"` (any architecture, default) or `"hf"` (Hugging Face `MambaForCausalLM`). */
  format?: "native" | "hf";
  /** Element type of the weights on disk (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** Folder to copy tokenizer files from (default: the folder the model was loaded from). */
  tokenizerDir?: string;
}

/**
 * Saves a model folder. Each file is written to a temporary name and renamed,
 * so an interrupted save never leaves a half-written file under the real name.
 *
 * @param model the model.
 * @param dir the folder (created if missing).
 * @param options format, dtype, tokenizer source.
 * @example
 * ```ts
 * import { loadModel, saveModel } from "./io.ts";
 * const model = await loadModel("tests/fixtures/hf-mamba/tiny");
 * await saveModel(model, "/tmp/tiny-copy", { format: "hf" });
 * ```
 */
export async function saveModel(
  model: MambaModel,
  dir: string,
  options: SaveOptions = {},
): Promise<void> {
  const format = options.format ?? "native";
  if (format !== "native" && format !== "hf") {
    throw new Error(
      `saveModel: format: expected "native" or "hf", received ${
        JSON.stringify(format)
      }`,
    );
  }
  const origin = origins.get(model);
  const config = format === "hf"
    ? hfConfigFromArchitecture(model.architecture, tokenIds(origin?.hfConfig))
    : null;
  await Deno.mkdir(dir, { recursive: true });
  const tensors: Record<string, SafeTensorInput> = {};
  for (const [name, variable] of model.params) {
    tensors[name] = {
      data: (await variable.data()) as Float32Array,
      shape: variable.shape,
    };
  }
  await writeSafetensors(join(dir, "model.safetensors"), tensors, {
    metadata: { format: "pt" },
    float: options.dtype ?? "F32",
  });
  if (config) {
    await writeTextAtomic(
      join(dir, "config.json"),
      hfConfigJson(config),
    );
  } else {
    await writeTextAtomic(
      join(dir, "architecture.json"),
      toJSON(model.architecture) + "\n",
    );
  }
  const from = options.tokenizerDir ?? origin?.dir;
  if (from && from !== dir) {
    for (const file of TOKENIZER_FILES) {
      if (await exists(join(from, file))) {
        await Deno.copyFile(join(from, file), join(dir, file));
      }
    }
  }
}

/**
 * config.json text. transformers validates float fields strictly (an int `1`
 * for `time_step_scale` is rejected), so whole numbers in float fields are
 * written as `1.0`.
 */
function hfConfigJson(config: Record<string, unknown>): string {
  const marked = Object.fromEntries(
    Object.entries(config).map(([key, value]) =>
      HF_FLOAT_FIELDS.has(key) && Number.isInteger(value)
        ? [key, `__float__${value}`]
        : [key, value]
    ),
  );
  return JSON.stringify(marked, null, 2).replace(
    /"__float__(-?\d+)"/g,
    "$1.0",
  ) + "\n";
}

const HF_FLOAT_FIELDS = new Set([
  "time_step_scale",
  "time_step_min",
  "time_step_max",
  "time_step_floor",
  "layer_norm_epsilon",
  "initializer_range",
]);

function tokenIds(config?: Record<string, unknown>): Record<string, unknown> {
  if (!config) return {};
  const keep: Record<string, unknown> = {};
  for (const key of ["bos_token_id", "eos_token_id", "pad_token_id"]) {
    if (key in config) keep[key] = config[key];
  }
  return keep;
}

/** Writes text to `path` through a temporary file and a rename. */
export async function writeTextAtomic(
  path: string,
  text: string,
): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}
