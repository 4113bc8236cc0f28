/**
 * Private: the page's model sources — a folder picked on this computer, a
 * folder URL, or a Hugging Face Hub repository
 * (`{endpoint}/{repo}/resolve/{revision}/{file}`) — read as the library's
 * `ModelFiles`, so the model is parsed and built by the same code as
 * `loadModel`; and the tokenizer and stop ids that come with it.
 *
 * No DOM here: the page (main.ts) and a Deno test both use it.
 *
 * @module
 */
import { type ModelFiles, modelFromFiles } from "../../models/_load_bytes.ts";
import { parseJsonObject } from "../../models/_load_bytes.ts";
import type { MambaModel } from "../../models/types.ts";
import {
  byteTokenizer,
  hfTokenizer,
  type TextTokenizer,
} from "../../train/tokenizers.ts";

/** The Hugging Face Hub, where a repository name is looked up by default. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Progress of one file: bytes so far and the size the server sent (0: unknown). */
export type Progress = (file: string, loaded: number, total: number) => void;

/**
 * The files of a folder picked with `<input type="file" webkitdirectory>`,
 * by their path below the picked folder (`tiny/config.json` → `config.json`).
 *
 * @param picked the input's files.
 * @returns the folder, named after the picked folder in messages.
 */
export function pickedFiles(picked: Iterable<File>): ModelFiles {
  const byName = new Map<string, File>();
  let top = "";
  for (const file of picked) {
    const path = file.webkitRelativePath || file.name;
    const cut = path.indexOf("/");
    if (!top) top = cut < 0 ? "" : path.slice(0, cut);
    byName.set(cut < 0 ? path : path.slice(cut + 1), file);
  }
  const where = top || "the picked folder";
  return {
    where,
    path: (name) => `${where}/${name}`,
    read: async (name) => {
      const file = byName.get(name);
      return file ? new Uint8Array(await file.arrayBuffer()) : null;
    },
    // Lets the loader refuse weights too large for the config before reading.
    size: (name) => Promise.resolve(byName.get(name)?.size ?? null),
  };
}

/** Options of {@linkcode remoteFiles}. */
export interface RemoteOptions {
  /** Hub endpoint (default {@linkcode DEFAULT_ENDPOINT}). */
  endpoint?: string;
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** Called as each file arrives. */
  onProgress?: Progress;
  /** Base for a relative folder URL (default: the page's address). */
  base?: string;
}

const REPO = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/**
 * The files of a model folder on the web: `source` is a folder URL
 * (`https://…/tiny`, `./models/tiny`) or a Hub repository name
 * (`state-spaces/mamba-130m-hf`), read from
 * `{endpoint}/{repo}/resolve/{revision}/{file}`.
 *
 * @param source a folder URL or a repository name.
 * @param options endpoint, revision, progress.
 * @returns the folder; a file the server answers 404 for reads as null.
 * @throws Error when `source` is neither a URL nor a repository name.
 */
export function remoteFiles(
  source: string,
  options: RemoteOptions = {},
): ModelFiles {
  const name = source.trim();
  let url: (file: string) => string;
  if (/^(https?:)?\/\/|^\.{0,2}\//.test(name)) {
    const base = options.base ?? globalThis.location?.href;
    const folder = new URL(name.endsWith("/") ? name : name + "/", base).href;
    url = (file) => new URL(file, folder).href;
  } else if (REPO.test(name)) {
    const endpoint = (options.endpoint?.trim() || DEFAULT_ENDPOINT)
      .replace(/\/+$/, "");
    const revision = encodeURIComponent(options.revision?.trim() || "main");
    url = (file) => `${endpoint}/${name}/resolve/${revision}/${file}`;
  } else {
    throw new Error(
      `model: expected a folder URL (https://…, ./…) or a Hub repository name (owner/name), received ${
        JSON.stringify(source)
      }`,
    );
  }
  return {
    where: url("").replace(/\/$/, ""),
    path: url,
    read: (file) => download(url(file), file, options.onProgress),
  };
}

async function download(
  url: string,
  file: string,
  onProgress?: Progress,
): Promise<Uint8Array | null> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(
      `${url}: cannot fetch (${
        (e as Error).message
      }); check the address, and that the server allows this page's origin (CORS)`,
    );
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    const hint = res.status === 401 || res.status === 403
      ? ": the repository does not exist, or is private or gated"
      : "";
    throw new Error(
      `${url}: expected HTTP 200, received ${res.status}${hint}`,
    );
  }
  const length = res.headers.get("content-length");
  const encoded = res.headers.get("content-encoding");
  const total = length && !encoded ? Number(length) : 0;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  const cut = (why: string) =>
    new Error(
      `${url}: the download was cut after ${loaded} of ${
        total || "?"
      } bytes (${why}); try again`,
    );
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      chunks.push(r.value);
      loaded += r.value.length;
      onProgress?.(file, loaded, total);
    }
  } catch (e) {
    throw cut((e as Error).message);
  }
  if (total && loaded !== total) throw cut(`content-length said ${total}`);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** What the page needs of a model folder. */
export interface PageModel {
  /** The model, on the active backend. */
  model: MambaModel;
  /** Its tokenizer, when the folder has one. */
  tokenizer?: TextTokenizer;
  /** Stop ids: `eos_token_id` of `generation_config.json`, else the tokenizer's. */
  stopTokenIds: number[];
}

/**
 * Loads a model folder's model, tokenizer and stop ids.
 *
 * @param files the folder.
 * @returns what the page needs.
 * @throws Error naming the file and field at fault.
 */
export async function loadPageModel(files: ModelFiles): Promise<PageModel> {
  const { model } = await modelFromFiles(files);
  try {
    const tokenizer = await loadTokenizer(files);
    let stopTokenIds: number[] = [];
    const gen = await files.read("generation_config.json");
    if (gen) {
      const eos =
        parseJsonObject(gen, files.path("generation_config.json")).eos_token_id;
      stopTokenIds = (Array.isArray(eos) ? eos : [eos])
        .filter((x: unknown): x is number => Number.isInteger(x));
    } else if (tokenizer?.eosId !== undefined) {
      stopTokenIds = [tokenizer.eosId];
    }
    return { model, tokenizer, stopTokenIds };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function loadTokenizer(
  files: ModelFiles,
): Promise<TextTokenizer | undefined> {
  const json = await files.read("tokenizer.json");
  const configBytes = await files.read("tokenizer_config.json");
  const config = configBytes
    ? parseJsonObject(configBytes, files.path("tokenizer_config.json"))
    : {};
  if (json) {
    return await hfTokenizer(
      parseJsonObject(json, files.path("tokenizer.json")),
      config,
      files.path("tokenizer.json"),
    );
  }
  // The byte tokenizer is saved as a tokenizer_config.json naming it.
  if (config.tokenizer_class === "ByteLevelTokenizer") return byteTokenizer();
  return undefined;
}

/**
 * Reads the prompt box: `ids: 1, 2, 3` (or `[1, 2, 3]`) is token ids, any
 * other text is encoded with the tokenizer.
 *
 * @param text what the user typed.
 * @param tokenizer the model's tokenizer, if any.
 * @returns the prompt ids (not yet checked against the vocabulary).
 * @throws Error saying how to give ids when the model has no tokenizer.
 */
export function promptIds(text: string, tokenizer?: TextTokenizer): number[] {
  const ids = /^\s*(?:ids:\s*(.*)|\[(.*)\])\s*$/s.exec(text);
  if (ids) {
    const list = (ids[1] ?? ids[2]).split(/[\s,]+/).filter((s) => s !== "");
    return list.map((s, i) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) {
        throw new Error(
          `prompt: ids[${i}]: expected a non-negative integer, received ${
            JSON.stringify(s)
          }`,
        );
      }
      return n;
    });
  }
  if (!tokenizer) {
    throw new Error(
      'prompt: this model has no tokenizer (no tokenizer.json): give token ids, e.g. "ids: 1, 2, 3"',
    );
  }
  return tokenizer.encode(text);
}
