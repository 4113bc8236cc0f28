/**
 * Private: a model from a folder's files, wherever their bytes come from — a
 * directory on disk (`loadModel`), files picked in a browser, or a URL
 * (`examples/web/`). One parser for every source: `architecture.json`
 * (native) or `config.json` (Hugging Face), then `model.safetensors` or the
 * shards its index lists.
 *
 * Reference: Hugging Face model folder layout (`config.json`,
 * `model.safetensors[.index.json]`).
 *
 * @module
 */
import { fromJSON } from "../dsl/builder.ts";
import type { Architecture } from "../dsl/schema.ts";
import { architectureFromHfConfig } from "./hf_config.ts";
import { buildModel, type WeightValues } from "./model.ts";
import { parseSafetensors } from "./safetensors.ts";
import { checkAllFound, checkShard, parseShardIndex } from "./_shard_index.ts";
import {
  checkFinite,
  checkWeightFileSize,
  weightBytesBudget,
} from "./_weights_check.ts";
import { architectureSizes } from "../dsl/sizes.ts";
import type { LoadOptions } from "./io.ts";
import type { MambaModel } from "./types.ts";

/** A model folder's files, read by name. */
export interface ModelFiles {
  /** The folder (a path or URL), for messages. */
  readonly where: string;
  /**
   * The name a file is reported under.
   * @param name a file name in the folder, e.g. `config.json`.
   * @returns e.g. `dir/config.json`.
   */
  path(name: string): string;
  /**
   * A file's bytes.
   * @param name a file name in the folder.
   * @returns the bytes, or null when the folder has no such file.
   * @throws Error naming the file when it exists but cannot be read.
   */
  read(name: string): Promise<Uint8Array | null>;
  /**
   * A file's size in bytes, without reading it (optional: weight files of a
   * source without it are not checked against the byte budget before they
   * are read).
   * @param name a file name in the folder.
   * @returns the size, or null when the folder has no such file.
   */
  size?(name: string): Promise<number | null>;
}

/** A model built from files, with the Hugging Face config it came from. */
export interface LoadedFiles {
  /** The model with its weights, on the active backend. */
  model: MambaModel;
  /** `config.json`'s fields, for a Hugging Face folder. */
  hfConfig?: Record<string, unknown>;
}

/**
 * Builds the model a folder's files describe.
 *
 * @param files the folder.
 * @param options size limits; whether NaN or infinite weights are allowed.
 * @returns the model and, for a Hugging Face folder, its config fields.
 * @throws Error naming the file and field or tensor at fault.
 */
export async function modelFromFiles(
  files: ModelFiles,
  options: LoadOptions = {},
): Promise<LoadedFiles> {
  let arch: Architecture;
  let hfConfig: Record<string, unknown> | undefined;
  const native = await files.read("architecture.json");
  if (native) {
    try {
      arch = fromJSON(new TextDecoder().decode(native), options.limits);
    } catch (e) {
      throw new Error(
        `${files.path("architecture.json")}: ${(e as Error).message}`,
      );
    }
  } else {
    const hf = await files.read("config.json");
    if (!hf) {
      throw new Error(
        `${files.where}: expected architecture.json (native) or config.json (Hugging Face)`,
      );
    }
    hfConfig = parseJsonObject(hf, files.path("config.json"));
    arch = architectureFromHfConfig(hfConfig, files.path("config.json"), {
      limits: options.limits,
      mamba2Norm: options.mamba2Norm,
    });
  }
  const weights = await readWeights(
    files,
    options.allowNonFinite ?? false,
    architectureSizes(arch).parameters,
  );
  const head = arch.nodes[arch.nodes.length - 1];
  if (head.kind === "lm_head" && head.tied) weights.delete("lm_head.weight");
  try {
    const built = buildModel(arch, { weights, limits: options.limits });
    return { model: built, hfConfig };
  } catch (e) {
    throw new Error(`${files.where}: ${(e as Error).message}`);
  }
}

/**
 * Parses a JSON object.
 * @param bytes the file's bytes.
 * @param path the file, for messages.
 * @returns the object.
 * @throws Error naming the file when it is not JSON or not an object.
 */
export function parseJsonObject(
  bytes: Uint8Array,
  path: string,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${path}: expected a JSON object, received ${
        Array.isArray(value) ? "an array" : JSON.stringify(value)
      }`,
    );
  }
  return value as Record<string, unknown>;
}

async function readWeights(
  files: ModelFiles,
  allowNonFinite: boolean,
  parameters: number,
): Promise<WeightValues> {
  const values: WeightValues = new Map();
  // Weight files larger than the architecture can fill are refused unread.
  let left = weightBytesBudget(parameters);
  const fits = async (name: string) => {
    const size = await files.size?.(name);
    if (size === undefined || size === null) return;
    checkWeightFileSize(size, left, parameters, files.path(name));
    left -= size;
  };
  await fits("model.safetensors");
  const single = await files.read("model.safetensors");
  if (single) {
    addTensors(values, single, files.path("model.safetensors"), allowNonFinite);
    return values;
  }
  const indexName = "model.safetensors.index.json";
  const indexBytes = await files.read(indexName);
  if (!indexBytes) {
    throw new Error(
      `${files.where}: expected model.safetensors or model.safetensors.index.json`,
    );
  }
  const index = files.path(indexName);
  // weight_map checked: names → plain relative files inside the folder.
  const shards = parseShardIndex(parseJsonObject(indexBytes, index), index);
  const seen = new Map<string, string>();
  for (const name of shards.shards) {
    await fits(name);
    const bytes = await files.read(name);
    if (!bytes) {
      throw new Error(`${files.path(name)}: listed in ${index}, not found`);
    }
    // one shard's bytes at a time; each tensor in the shard the index names
    const found = addTensors(values, bytes, files.path(name), allowNonFinite);
    checkShard(shards, name, found, seen, index);
  }
  checkAllFound(shards, seen, index);
  return values;
}

/**
 * Adds a safetensors file's tensors to `values` under their checkpoint
 * names; returns the names as the file has them.
 */
function addTensors(
  values: WeightValues,
  bytes: Uint8Array,
  file: string,
  allowNonFinite: boolean,
): string[] {
  const { tensors } = parseSafetensors(bytes, { source: file });
  for (const [rawName, t] of tensors) {
    const name = rawName === "backbone.embedding.weight"
      ? "backbone.embeddings.weight"
      : rawName;
    if (!(t.data instanceof Float32Array)) {
      throw new Error(
        `${file}: tensor "${rawName}": expected a float tensor (F32, F16, BF16), received ${t.dtype}`,
      );
    }
    if (!allowNonFinite) checkFinite(t.data, file, rawName);
    values.set(name, { shape: t.shape, data: t.data });
  }
  return [...tensors.keys()];
}
