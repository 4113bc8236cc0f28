/**
 * Models from the Hugging Face Hub: `org/name[@revision]` is downloaded into
 * the Hugging Face cache (the layout huggingface_hub uses, shared with
 * Python), and the snapshot folder is what `loadModel` reads.
 *
 * Downloaded: `config.json` (or this project's `architecture.json`), the
 * weights (`model.safetensors`, or `model.safetensors.index.json` and its
 * shards), and, when present, `tokenizer.json`, `tokenizer_config.json`,
 * `special_tokens_map.json` and `generation_config.json`.
 *
 * Environment: `HF_ENDPOINT` (default `https://huggingface.co`), `HF_TOKEN`
 * (else the token `hf auth login` saved), `HF_HUB_OFFLINE`, `HF_HUB_CACHE` /
 * `HF_HOME`, `HF_HUB_DISABLE_PROGRESS_BARS`, `HF_HUB_DOWNLOAD_TIMEOUT`.
 * Options override them.
 *
 * A call for a branch or tag makes one `HEAD` (of `config.json`) to learn the
 * commit; every file already in that commit's snapshot is then read from the
 * cache with no request. With `HF_HUB_OFFLINE`, or a commit hash as revision,
 * a cached model makes none; when the Hub cannot be reached the cached
 * snapshot of the revision is used.
 *
 * Reference: huggingface_hub `file_download.py` (`hf_hub_download`,
 * `snapshot_download`), its cache guide and environment variables.
 *
 * @module
 */
import {
  COMMIT_RE,
  defaultHubCache,
  env,
  envFlag,
  RepoCache,
  savedToken,
} from "./_hub_cache.ts";
import {
  downloadBlob,
  headFile,
  type HubContext,
  HubNetworkError,
} from "./_hub_http.ts";
import { exists } from "./_exists.ts";
import { parseJsonObject } from "./_load_bytes.ts";
import { parseShardIndex } from "./_shard_index.ts";

/** Options of {@linkcode downloadHubModel}; each defaults to its environment variable. */
export interface HubOptions {
  /** Branch, tag or commit (default: the `@revision` of the name, else `main`). */
  revision?: string;
  /** Cache folder (default `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Hub address (default `$HF_ENDPOINT`, else `https://huggingface.co`). */
  endpoint?: string;
  /** Access token (default `$HF_TOKEN`, else the saved login token). */
  token?: string;
  /** Use the cache only, no request (default `$HF_HUB_OFFLINE`). */
  offline?: boolean;
  /** Progress bars on stderr (default on, unless `$HF_HUB_DISABLE_PROGRESS_BARS`). */
  progress?: boolean;
  /** Further attempts after a cut download, each resuming (default 5). */
  retries?: number;
  /** Seconds without an answer or without bytes before giving up (default `$HF_HUB_DOWNLOAD_TIMEOUT` or 10). */
  timeoutSeconds?: number;
}

/** A parsed Hub model name. */
export interface HubName {
  /** `org/name`. */
  repo: string;
  /** The revision after `@`, if any. */
  revision?: string;
}

const PART = "[A-Za-z0-9](?:[\\w.-]{0,94}[A-Za-z0-9_])?";
const NAME_RE = new RegExp(`^(${PART}/${PART})(?:@([\\w.\\-/]+))?$`);

/**
 * Reads `org/name` or `org/name@revision`.
 * @param name the text.
 * @returns the repository and revision, or undefined when `name` is not one.
 * @example
 * ```ts
 * import { parseHubName } from "./hub.ts";
 * parseHubName("state-spaces/mamba-130m-hf@main");
 * // { repo: "state-spaces/mamba-130m-hf", revision: "main" }
 * ```
 */
export function parseHubName(name: string): HubName | undefined {
  const m = NAME_RE.exec(name);
  if (!m || m[1].includes("--") || m[1].includes("..")) return undefined;
  const revision = m[2];
  if (revision?.split("/").some((p) => p === "" || p === "." || p === "..")) {
    return undefined;
  }
  return revision === undefined ? { repo: m[1] } : { repo: m[1], revision };
}

/**
 * The Hugging Face hub cache folder the environment selects.
 * @returns `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
 */
export function hubCacheDir(): string {
  return defaultHubCache();
}

const OPTIONAL_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
];
const INDEX = "model.safetensors.index.json";

/** One download: the repository, its cache, the revision and, once known, the commit. */
interface Session {
  ctx: HubContext;
  cache: RepoCache;
  revision: string;
  commit?: string;
}

/** Fetches one file into the snapshot; undefined when the revision lacks it. */
async function getFile(s: Session, file: string): Promise<string | undefined> {
  if (s.commit) {
    if (await s.cache.hasFile(s.commit, file)) {
      return s.cache.snapshot(s.commit, file);
    }
    if (await s.cache.knownMissing(s.commit, file)) return undefined;
  }
  const head = await headFile(s.ctx, s.commit ?? s.revision, file);
  const commit = head.found ? head.meta.commit : head.commit;
  if (commit && !s.commit) {
    s.commit = commit;
    await s.cache.writeRef(s.revision, commit);
  }
  if (!head.found) {
    if (s.commit) await s.cache.markMissing(s.commit, file);
    return undefined;
  }
  const { meta } = head;
  const blob = s.cache.blob(meta.etag);
  const cached = async () => {
    try {
      return (await Deno.stat(blob)).size === meta.size;
    } catch {
      return false;
    }
  };
  if (!(await cached())) {
    await Deno.mkdir(s.cache.blob(""), { recursive: true });
    await s.cache.withLock(meta.etag, async () => {
      // Another process may have fetched it while this one waited.
      if (!(await cached())) await downloadBlob(s.ctx, file, meta, blob);
    });
  }
  await s.cache.link(s.commit!, file, meta.etag);
  return s.cache.snapshot(s.commit!, file);
}

/** The shard files an index lists, each a relative path inside the repository. */
async function shardsOf(path: string, where: string): Promise<string[]> {
  const source = `${where}: ${INDEX}`;
  return parseShardIndex(
    parseJsonObject(await Deno.readFile(path), source),
    source,
  ).shards;
}

/** Downloads (or finds in the cache) every file a model needs. */
async function download(s: Session): Promise<string> {
  const where = `${s.ctx.repo}@${s.revision}`;
  if (
    !(await getFile(s, "config.json")) &&
    !(await getFile(s, "architecture.json"))
  ) {
    throw new Error(
      `${where}: neither config.json nor architecture.json is in the repository: is it a Mamba model?`,
    );
  }
  if (!(await getFile(s, "model.safetensors"))) {
    const index = await getFile(s, INDEX);
    if (!index) {
      throw new Error(
        `${where}: neither model.safetensors nor ${INDEX} is in the repository: only safetensors weights are read (convert pytorch_model.bin with transformers' save_pretrained(safe_serialization=True))`,
      );
    }
    for (const shard of await shardsOf(index, where)) {
      if (!(await getFile(s, shard))) {
        throw new Error(
          `${where}: ${shard}: listed in ${INDEX}, not in the repository`,
        );
      }
    }
  }
  for (const file of OPTIONAL_FILES) await getFile(s, file);
  return s.cache.snapshot(s.commit!);
}

/** The cached snapshot of a revision, checked for a config and weights. */
async function fromCache(s: Session, why: string): Promise<string> {
  const commit = await s.cache.readRef(s.revision);
  const has = (file: string) =>
    commit ? s.cache.hasFile(commit, file) : Promise.resolve(false);
  let missing: string | undefined;
  if (!(await has("config.json")) && !(await has("architecture.json"))) {
    missing = "config.json";
  } else if (!(await has("model.safetensors"))) {
    if (!(await has(INDEX))) missing = "model.safetensors";
    else {
      const index = s.cache.snapshot(commit!, INDEX);
      for (const shard of await shardsOf(index, s.ctx.repo)) {
        if (!(await has(shard))) missing ??= shard;
      }
    }
  }
  if (missing) {
    throw new Error(
      `${s.ctx.repo}: ${missing} (revision ${s.revision}) is not in the Hugging Face cache (${s.cache.root}) and ${why}: run once online to download it, or check the name and revision`,
    );
  }
  return s.cache.snapshot(commit!);
}

/**
 * Downloads a Hub model repository into the Hugging Face cache, or finds it
 * there, and returns its snapshot folder.
 *
 * @param name `org/name` or `org/name@revision`.
 * @param options revision, cache folder, endpoint, token, offline, progress.
 * @returns the snapshot folder (`…/models--org--name/snapshots/{commit}`).
 * @throws Error naming the repository, the file and what to do (a missing
 *   repository, revision or file, a gated or private one, no network).
 * @example
 * ```ts
 * import { downloadHubModel } from "./hub.ts";
 * import { loadModel } from "./io.ts";
 * const dir = await downloadHubModel("state-spaces/mamba-130m-hf");
 * const model = await loadModel(dir);
 * ```
 */
export async function downloadHubModel(
  name: string,
  options: HubOptions = {},
): Promise<string> {
  const parsed = parseHubName(name);
  if (!parsed) {
    throw new Error(
      `Hub model: expected "org/name" or "org/name@revision" (e.g. state-spaces/mamba-130m-hf), received ${
        JSON.stringify(name)
      }`,
    );
  }
  const timeout = options.timeoutSeconds ??
    Number(env("HF_HUB_DOWNLOAD_TIMEOUT") ?? 10);
  const ctx: HubContext = {
    repo: parsed.repo,
    endpoint: (options.endpoint ?? env("HF_ENDPOINT") ??
      "https://huggingface.co").replace(/\/+$/, ""),
    token: options.token ?? env("HF_TOKEN") ??
      env("HUGGING_FACE_HUB_TOKEN") ?? await savedToken(),
    timeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : 10,
    retries: options.retries ?? 5,
    progress: options.progress ?? !envFlag("HF_HUB_DISABLE_PROGRESS_BARS"),
  };
  const s: Session = {
    ctx,
    cache: new RepoCache(options.cacheDir ?? defaultHubCache(), parsed.repo),
    revision: options.revision ?? parsed.revision ?? "main",
  };
  if (COMMIT_RE.test(s.revision)) s.commit = s.revision;
  if (options.offline ?? envFlag("HF_HUB_OFFLINE")) {
    return await fromCache(s, "HF_HUB_OFFLINE is set (no request is made)");
  }
  try {
    return await download(s);
  } catch (err) {
    if (!(err instanceof HubNetworkError)) throw err;
    const reason = `${ctx.endpoint} cannot be reached (${err.message})`;
    const dir = await fromCache(
      s,
      `${reason}; check the connection and HF_ENDPOINT`,
    );
    console.error(`${ctx.repo}: ${reason}; using the cached snapshot ${dir}`);
    return dir;
  }
}

/**
 * What `loadModel` and the CLIs' `--model` read: a path that exists is a
 * local folder; otherwise an `org/name[@revision]` is downloaded from the
 * Hub (see {@linkcode downloadHubModel}); anything else is returned as is.
 *
 * @param source a folder or a Hub name.
 * @param options Hub options.
 * @returns a local folder.
 * @example
 * ```ts
 * import { resolveModelSource } from "./hub.ts";
 * await resolveModelSource("tests/fixtures/hf-mamba/tiny"); // the folder itself
 * ```
 */
export async function resolveModelSource(
  source: string,
  options: HubOptions = {},
): Promise<string> {
  if (await exists(source) || !parseHubName(source)) return source;
  try {
    return await downloadHubModel(source, options);
  } catch (err) {
    (err as Error).message += ` (and there is no local folder "${source}")`;
    throw err;
  }
}
