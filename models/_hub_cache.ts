/**
 * Private helper of `hub.ts`: the Hugging Face cache layout.
 *
 *     {cache}/models--{org}--{name}/
 *       blobs/{etag}                    file contents, named by their ETag
 *       blobs/{etag}.incomplete         a download in progress (resumable)
 *       snapshots/{commit}/{file}       relative symlink to ../../blobs/{etag}
 *       refs/{revision}                 the commit a branch or tag pointed to
 *       .no_exist/{commit}/{file}       empty: the file is not in that commit
 *
 * Reference: huggingface_hub `file_download.py` (`hf_hub_download`,
 * `try_to_load_from_cache`) and its "Manage the cache" guide.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";

/** A commit hash: 40 lowercase hex digits. */
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** Environment variable, or undefined where the permission is missing. */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** huggingface_hub's truthy spellings of a boolean environment variable. */
export function envFlag(name: string): boolean {
  return ["1", "on", "yes", "true"].includes((env(name) ?? "").toLowerCase());
}

function home(): string {
  return env("HOME") ?? env("USERPROFILE") ?? ".";
}

/**
 * The hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 */
export function defaultHubCache(): string {
  const direct = env("HF_HUB_CACHE") ?? env("HUGGINGFACE_HUB_CACHE");
  if (direct) return direct;
  const hfHome = env("HF_HOME") ??
    join(env("XDG_CACHE_HOME") ?? join(home(), ".cache"), "huggingface");
  return join(hfHome, "hub");
}

/** The token saved by `hf auth login` (`$HF_TOKEN_PATH` or `$HF_HOME/token`). */
export async function savedToken(): Promise<string | undefined> {
  const hfHome = env("HF_HOME") ??
    join(env("XDG_CACHE_HOME") ?? join(home(), ".cache"), "huggingface");
  try {
    const text = await Deno.readTextFile(
      env("HF_TOKEN_PATH") ?? join(hfHome, "token"),
    );
    return text.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Paths of one repository in the cache. */
export class RepoCache {
  /** `{cache}/models--{org}--{name}`. */
  readonly root: string;

  /**
   * @param cacheDir the hub cache folder.
   * @param repo `org/name`.
   */
  constructor(cacheDir: string, readonly repo: string) {
    this.root = join(cacheDir, `models--${repo.replaceAll("/", "--")}`);
  }

  /** Blob path of an ETag. */
  blob(etag: string): string {
    return join(this.root, "blobs", etag);
  }

  /** Snapshot path of a file at a commit. */
  snapshot(commit: string, file = ""): string {
    return join(this.root, "snapshots", commit, file);
  }

  /** The commit `refs/{revision}` names, if any. */
  async readRef(revision: string): Promise<string | undefined> {
    if (COMMIT_RE.test(revision)) return revision;
    try {
      const text = (await Deno.readTextFile(
        join(this.root, "refs", revision),
      )).trim();
      return COMMIT_RE.test(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records that `revision` points at `commit` (nothing for a commit hash). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = join(this.root, "refs", revision);
    if ((await this.readRef(revision)) === commit) return;
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(tmp, commit);
    await Deno.rename(tmp, path);
  }

  /** Whether the snapshot of `commit` has `file`. */
  async hasFile(commit: string, file: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.snapshot(commit, file))).isFile;
    } catch {
      return false;
    }
  }

  /** Whether a `.no_exist` marker says `file` is not in `commit`. */
  async knownMissing(commit: string, file: string): Promise<boolean> {
    try {
      await Deno.stat(join(this.root, ".no_exist", commit, file));
      return true;
    } catch {
      return false;
    }
  }

  /** Writes the `.no_exist` marker of `file` at `commit`. */
  async markMissing(commit: string, file: string): Promise<void> {
    const path = join(this.root, ".no_exist", commit, file);
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeFile(path, new Uint8Array());
  }

  /**
   * Points `snapshots/{commit}/{file}` at `blobs/{etag}`: a relative symlink,
   * or a copy where symlinks cannot be made.
   */
  async link(commit: string, file: string, etag: string): Promise<void> {
    const path = this.snapshot(commit, file);
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.symlink(relative(dirname(path), this.blob(etag)), tmp);
    } catch {
      await Deno.copyFile(this.blob(etag), tmp);
    }
    await Deno.rename(tmp, path);
  }

  /**
   * Runs `fn` holding an exclusive lock on `.locks/models--…/{etag}.lock`
   * (an OS file lock: released if the process dies), so that two processes
   * never download the same blob at once.
   */
  async withLock<T>(etag: string, fn: () => Promise<T>): Promise<T> {
    const dir = join(dirname(this.root), ".locks", basename(this.root));
    await Deno.mkdir(dir, { recursive: true });
    using file = await Deno.open(join(dir, `${etag}.lock`), {
      write: true,
      create: true,
    });
    await file.lock(true);
    try {
      return await fn();
    } finally {
      await file.unlock();
    }
  }
}
