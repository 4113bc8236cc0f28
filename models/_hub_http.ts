/**
 * Private helper of `hub.ts`: the Hub's HTTP protocol. A `HEAD` on
 * `{endpoint}/{repo}/resolve/{revision}/{file}` gives the commit
 * (`X-Repo-Commit`), the blob's ETag (`X-Linked-Etag` for LFS files, else
 * `ETag`) and size (`X-Linked-Size`, else `Content-Length`), and, for LFS
 * files, a redirect to where the bytes are; a `GET` there (with `Range` when
 * a `.incomplete` file is left from an interrupted run) fetches them. Error
 * codes come in `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
 * `EntryNotFound`, `GatedRepo`).
 *
 * Reference: huggingface_hub `file_download.py` (`get_hf_file_metadata`,
 * `http_get`) and `utils/_http.py` (`hf_raise_for_status`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { DownloadBar, formatBytes } from "./_hub_progress.ts";
import { COMMIT_RE } from "./_hub_cache.ts";

/** Where and how to ask. */
export interface HubContext {
  /** `org/name`. */
  repo: string;
  /** Hub address, no trailing slash. */
  endpoint: string;
  /** Bearer token, if any. */
  token?: string;
  /** Seconds without an answer (or without bytes) before giving up. */
  timeoutSeconds: number;
  /** Attempts after a failed or cut download. */
  retries: number;
  /** Whether to draw progress bars. */
  progress: boolean;
}

/** What a `HEAD` says about a file that exists. */
export interface FileMeta {
  /** Commit the revision resolved to. */
  commit: string;
  /** The blob's name in the cache (sha256 for LFS files, git sha1 else). */
  etag: string;
  /** Size in bytes. */
  size: number;
  /** URL to `GET` the bytes from. */
  location: string;
}

/** A `HEAD`: the file's metadata, or "not in this revision" (with the commit when sent). */
export type HeadResult =
  | { found: true; meta: FileMeta }
  | { found: false; commit?: string };

/** The Hub could not be reached (no answer, refused, timed out). */
export class HubNetworkError extends Error {}

/** The URL of a file at a revision. */
export function resolveUrl(
  ctx: HubContext,
  revision: string,
  file: string,
): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${ctx.endpoint}/${ctx.repo}/resolve/${
    encodeURIComponent(revision)
  }/${path}`;
}

function headers(ctx: HubContext, url: string): Headers {
  const h = new Headers({
    "accept-encoding": "identity",
    "user-agent": `mamba-ts; deno/${Deno.version.deno}`,
  });
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) {
    h.set("authorization", `Bearer ${ctx.token}`);
  }
  return h;
}

/** An etag as a file name: `W/` and quotes dropped. */
function normalizeEtag(raw: string | null): string | undefined {
  if (!raw) return undefined;
  return raw.replace(/^W\//, "").replaceAll('"', "");
}

/**
 * The error for a refused request, saying what to do.
 * @param ctx the repository.
 * @param revision the revision asked for.
 * @param file the file asked for.
 * @param res the response.
 * @returns the error.
 */
export function hubError(
  ctx: HubContext,
  revision: string,
  file: string,
  res: Response,
): Error {
  const code = res.headers.get("x-error-code") ?? "";
  const said = res.headers.get("x-error-message");
  const what =
    `${ctx.repo}: ${file} (revision ${revision}): HTTP ${res.status}${
      code ? ` ${code}` : ""
    }${said ? ` "${said}"` : ""} from ${ctx.endpoint}`;
  const tokenNote = ctx.token
    ? "the token in HF_TOKEN was sent and not accepted for it"
    : "no token was sent: set HF_TOKEN";
  if (code === "RepoNotFound") {
    return new Error(
      `${what}: no repository of that name that you can read: check the name (org/name, e.g. state-spaces/mamba-130m-hf); if it is private, ${tokenNote}`,
    );
  }
  if (code === "GatedRepo") {
    return new Error(
      `${what}: a gated repository: accept its conditions at ${ctx.endpoint}/${ctx.repo} and set HF_TOKEN to a token of that account (${tokenNote})`,
    );
  }
  if (code === "RevisionNotFound") {
    return new Error(
      `${what}: no revision "${revision}" in this repository: check the branch, tag or commit after "@"`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    return new Error(
      `${what}: access refused: ${tokenNote} (a token with read access to ${ctx.repo})`,
    );
  }
  if (res.status === 429) {
    return new Error(`${what}: rate limited: wait, or set HF_TOKEN`);
  }
  return new Error(`${what}: unexpected answer`);
}

async function request(
  ctx: HubContext,
  url: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await fetch(url, {
      ...init,
      signal: init.signal ?? AbortSignal.timeout(ctx.timeoutSeconds * 1000),
    });
  } catch (err) {
    throw new HubNetworkError(`${url}: ${(err as Error).message}`);
  }
}

/** Relative redirects (renamed repositories) followed before giving up. */
const MAX_REDIRECTS = 5;

/**
 * `HEAD` of a file: its metadata, or that it is not in the revision.
 * Relative redirects (a renamed repository) are followed; an absolute one
 * (LFS storage) gives the download location.
 * @throws HubNetworkError when the Hub does not answer; Error for a refusal.
 */
export async function headFile(
  ctx: HubContext,
  revision: string,
  file: string,
): Promise<HeadResult> {
  const where =
    `${ctx.repo}: ${file} (revision ${revision}) from ${ctx.endpoint}`;
  let url = resolveUrl(ctx, revision, file);
  let res: Response;
  for (let hop = 0;; hop++) {
    res = await request(ctx, url, {
      method: "HEAD",
      headers: headers(ctx, url),
      redirect: "manual",
    });
    await res.body?.cancel();
    const location = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !location?.startsWith("/")) {
      break;
    }
    if (hop === MAX_REDIRECTS) {
      throw new Error(
        `${where}: expected at most ${MAX_REDIRECTS} redirects, received more (last to ${location})`,
      );
    }
    url = new URL(location, url).href;
  }
  const code = res.headers.get("x-error-code");
  const commitHeader = res.headers.get("x-repo-commit") ?? undefined;
  if (
    res.status === 404 && (code === "EntryNotFound" || code === null)
  ) {
    return { found: false, commit: commitHeader };
  }
  if (res.status >= 400) throw hubError(ctx, revision, file, res);
  const redirected = res.status >= 300 && res.status < 400;
  const etag = normalizeEtag(
    res.headers.get("x-linked-etag") ?? res.headers.get("etag"),
  );
  const size = Number(
    res.headers.get("x-linked-size") ?? res.headers.get("content-length"),
  );
  if (!commitHeader || !COMMIT_RE.test(commitHeader)) {
    throw new Error(
      `${where}: expected an X-Repo-Commit header with a commit hash, received ${
        JSON.stringify(commitHeader ?? null)
      }: is HF_ENDPOINT a Hugging Face Hub?`,
    );
  }
  if (!etag || !/^[\w.-]+$/.test(etag)) {
    throw new Error(
      `${where}: expected an ETag (or X-Linked-Etag) header naming the file's hash, received ${
        JSON.stringify(etag ?? null)
      }`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new Error(
      `${where}: expected a Content-Length (or X-Linked-Size) header with the file's size, received ${
        JSON.stringify(
          res.headers.get("x-linked-size") ??
            res.headers.get("content-length"),
        )
      }`,
    );
  }
  const location = redirected
    ? new URL(res.headers.get("location")!, url).href
    : url;
  return { found: true, meta: { commit: commitHeader, etag, size, location } };
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** The hash an ETag names (sha256 or git's blob sha1), if it names one. */
async function checkHash(path: string, meta: FileMeta): Promise<string> {
  const algo = /^[0-9a-f]{64}$/.test(meta.etag)
    ? "sha256"
    : /^[0-9a-f]{40}$/.test(meta.etag)
    ? "sha1"
    : undefined;
  if (!algo) return "";
  const hash = createHash(algo);
  if (algo === "sha1") hash.update(`blob ${meta.size}\0`);
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  const got = hash.digest("hex");
  return got === meta.etag ? "" : `${algo} ${got}, expected ${meta.etag}`;
}

/**
 * Downloads a blob to `dest` through `dest.incomplete`, resuming what an
 * earlier run left there with `Range`, retrying a cut connection, and
 * checking the size (and the hash the ETag names) before the rename.
 * @param ctx the repository.
 * @param file the file's name in the repository (for messages).
 * @param meta what the `HEAD` said.
 * @param dest the blob path.
 * @throws Error naming the repository and file.
 */
export async function downloadBlob(
  ctx: HubContext,
  file: string,
  meta: FileMeta,
  dest: string,
): Promise<void> {
  const part = `${dest}.incomplete`;
  const what = `${ctx.repo}: ${file}`;
  const resumedFrom = await fileSize(part);
  const bar = new DownloadBar(what, meta.size, ctx.progress);
  let lastError = "";
  for (let attempt = 0; attempt <= ctx.retries; attempt++) {
    if (attempt > 0) {
      await new Promise((r) => setTimeout(r, 250 * 2 ** Math.min(attempt, 3)));
    }
    let have = await fileSize(part);
    if (have > meta.size) {
      await Deno.remove(part);
      have = 0;
    }
    if (have === meta.size && have > 0) break;
    const h = headers(ctx, meta.location);
    if (have > 0) h.set("range", `bytes=${have}-`);
    const abort = new AbortController();
    const idle = () =>
      setTimeout(
        () => abort.abort(new Error(`no data for ${ctx.timeoutSeconds} s`)),
        ctx.timeoutSeconds * 1000,
      );
    let timer = idle();
    try {
      const res = await request(ctx, meta.location, {
        headers: h,
        signal: abort.signal,
      });
      if (res.status === 416) {
        await res.body?.cancel();
        await Deno.remove(part).catch(() => {});
        lastError = "HTTP 416 for the resumed range";
        continue;
      }
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        throw hubError(ctx, meta.commit, file, res);
      }
      const start = res.status === 206
        ? Number(
          /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1],
        )
        : 0;
      if (start !== 0 && start !== have) {
        await res.body?.cancel();
        await Deno.remove(part).catch(() => {});
        lastError = `the server resumed at byte ${start}, not ${have}`;
        continue;
      }
      have = start;
      using out = await Deno.open(part, {
        write: true,
        create: true,
        truncate: start === 0,
        append: start > 0,
      });
      for await (const chunk of res.body!) {
        clearTimeout(timer);
        timer = idle();
        if (have + chunk.length > meta.size) {
          throw new Error(
            `${what}: the server sent more than the ${meta.size} bytes it announced`,
          );
        }
        let off = 0;
        while (off < chunk.length) off += await out.write(chunk.subarray(off));
        have += chunk.length;
        bar.update(have);
      }
      if (have === meta.size) break;
      lastError = `the connection ended after ${have} of ${meta.size} bytes`;
    } catch (err) {
      if ((err as Error).message.startsWith(what)) throw err;
      lastError = (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }
  const size = await fileSize(part);
  if (size !== meta.size) {
    throw new Error(
      `${what}: download interrupted at ${size} of ${meta.size} bytes after ${
        ctx.retries + 1
      } attempts (${lastError}); the part is kept in ${part}: run again to resume`,
    );
  }
  const mismatch = await checkHash(part, meta);
  if (mismatch) {
    await Deno.remove(part);
    throw new Error(
      `${what}: the downloaded bytes do not match the ETag the server sent (${mismatch}); the part was removed: run again`,
    );
  }
  await Deno.rename(part, dest);
  bar.finish(
    size,
    resumedFrom > 0 ? ` (resumed from ${formatBytes(resumedFrom)})` : "",
  );
}
