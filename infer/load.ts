/**
 * Loads what serving needs from a model folder or an `http(s)://` URL of one:
 * the model, its tokenizer (when the folder has one) and the stop ids from
 * `generation_config.json` (`eos_token_id`). A URL's files are downloaded
 * into a temporary folder first, so the edge bundle needs nothing installed.
 *
 * Reference: Hugging Face model folder layout (`config.json`,
 * `model.safetensors[.index.json]`, `tokenizer.json`, `generation_config.json`).
 *
 * @module
 */
import { join } from "node:path";
import { loadModel, TOKENIZER_FILES } from "../models/io.ts";
import { resolveModelSource } from "../models/hub.ts";
import { parseJsonObject } from "../models/_load_bytes.ts";
import { parseShardIndex } from "../models/_shard_index.ts";
import type { MambaModel } from "../models/types.ts";
import { loadTokenizer, type TextTokenizer } from "../train/tokenizers.ts";
import { exists } from "../models/_exists.ts";

/** A model ready to serve. */
export interface ServedModel {
  /** The model, on the active backend. */
  model: MambaModel;
  /** Its tokenizer, when the folder has one. */
  tokenizer?: TextTokenizer;
  /** Default stop ids (`eos_token_id` of `generation_config.json`, else none). */
  stopTokenIds: number[];
  /** The local folder the model was read from. */
  dir: string;
}

const OPTIONAL_FILES = [
  "architecture.json",
  "config.json",
  "generation_config.json",
  "model.safetensors",
  "model.safetensors.index.json",
  ...TOKENIZER_FILES,
];

async function download(url: string, to: string): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`${url}: cannot fetch (${(err as Error).message})`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return false;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url}: expected HTTP 200, received ${res.status}`);
  }
  await Deno.writeFile(to, new Uint8Array(await res.arrayBuffer()));
  return true;
}

/**
 * Downloads a model folder served over HTTP into a temporary folder.
 *
 * @param base the folder's URL (`…/model/`; a trailing slash is added).
 * @returns the local folder.
 * @throws Error when neither architecture.json nor config.json is there.
 */
export async function downloadModelFolder(base: string): Promise<string> {
  const root = base.endsWith("/") ? base : base + "/";
  const dir = await Deno.makeTempDir({ prefix: "mamba-model-" });
  const got = new Set<string>();
  for (const name of OPTIONAL_FILES) {
    if (await download(new URL(name, root).href, join(dir, name))) {
      got.add(name);
    }
  }
  if (!got.has("architecture.json") && !got.has("config.json")) {
    throw new Error(
      `${root}: expected architecture.json or config.json there, found neither`,
    );
  }
  if (got.has("model.safetensors.index.json")) {
    // Checked before any shard is fetched: a "../" or absolute name would
    // be fetched from outside the folder and written outside `dir`.
    const indexUrl = new URL("model.safetensors.index.json", root).href;
    const index = parseJsonObject(
      await Deno.readFile(join(dir, "model.safetensors.index.json")),
      indexUrl,
    );
    for (const shard of parseShardIndex(index, indexUrl).shards) {
      if (!await download(new URL(shard, root).href, join(dir, shard))) {
        throw new Error(`${root}${shard}: listed in the index, not found`);
      }
    }
  }
  return dir;
}

/**
 * Loads a model folder or URL for serving.
 *
 * @param source a folder path, an `http(s)://` URL of one, or a Hugging Face
 *   Hub name `org/name[@revision]` (downloaded into the Hugging Face cache).
 * @param options `mamba2Norm`: the Mamba-2 gated norm's semantics for a
 *   Hugging Face config (`loadModel`'s option; default "official").
 * @returns the model, tokenizer and default stop ids.
 * @example
 * ```ts
 * import { loadServedModel } from "./load.ts";
 * const { model, tokenizer } = await loadServedModel("tests/fixtures/hf-mamba/tiny");
 * ```
 */
export async function loadServedModel(
  source: string,
  options: { mamba2Norm?: "official" | "transformers" } = {},
): Promise<ServedModel> {
  const dir = /^https?:\/\//.test(source)
    ? await downloadModelFolder(source)
    : await resolveModelSource(source); // a Hub name → its cached snapshot
  const model = await loadModel(dir, { mamba2Norm: options.mamba2Norm });
  const hasTokenizer = await exists(join(dir, "tokenizer.json")) ||
    await exists(join(dir, "tokenizer_config.json"));
  const tokenizer = hasTokenizer ? await loadTokenizer(dir) : undefined;
  let stopTokenIds: number[] = [];
  const genPath = join(dir, "generation_config.json");
  if (await exists(genPath)) {
    const eos = JSON.parse(await Deno.readTextFile(genPath)).eos_token_id;
    stopTokenIds = (Array.isArray(eos) ? eos : [eos])
      .filter((x: unknown): x is number => Number.isInteger(x));
  } else if (tokenizer?.eosId !== undefined) {
    stopTokenIds = [tokenizer.eosId];
  }
  return { model, tokenizer, stopTokenIds, dir };
}
