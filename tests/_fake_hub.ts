/**
 * Private test helper: a local HTTP server on 127.0.0.1 that answers like the
 * Hugging Face Hub's file endpoint, `/{org}/{name}/resolve/{revision}/{file}`
 * (HEAD and GET): `X-Repo-Commit`; `ETag` = git blob sha1 for plain files;
 * for LFS files (`*.safetensors`) a 302 to `/cdn/{sha256}` with
 * `X-Linked-Etag` and `X-Linked-Size`; `Range` → 206; error codes in
 * `X-Error-Code` (401 `RepoNotFound`, 401/403 `GatedRepo`, 404
 * `RevisionNotFound` / `EntryNotFound`). Knobs cut a response half-way,
 * corrupt a blob or misstate its size. Every request is logged.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** One logged request. */
export interface LoggedRequest {
  /** HTTP method. */
  method: string;
  /** Decoded path. */
  path: string;
  /** The Range header, if sent. */
  range: string | null;
  /** The Authorization header, if sent. */
  auth: string | null;
}

interface Blob {
  bytes: Uint8Array;
  sha256: string;
  gitSha1: string;
}

interface Repo {
  commits: Map<string, Map<string, Blob>>;
  refs: Map<string, string>;
  /** Token that may read it (private or gated). */
  token?: string;
  gated?: boolean;
}

const hex = (algo: string, ...parts: (string | Uint8Array)[]) => {
  const h = createHash(algo);
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

/** The server. */
export class FakeHub {
  /** Requests in order. */
  readonly log: LoggedRequest[] = [];
  /** sha256 → bytes after which the next `times` GETs of that blob are cut. */
  readonly cuts = new Map<string, { after: number; times: number }>();
  /** sha256 of blobs served with their first byte flipped. */
  readonly corrupt = new Set<string>();
  /** sha256 → the X-Linked-Size announced instead of the true one. */
  readonly misstatedSize = new Map<string, number>();
  /** Old repo id → new (answered with a relative 307, like a renamed repo). */
  readonly renamed = new Map<string, string>();
  readonly #repos = new Map<string, Repo>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  /** `http://127.0.0.1:{port}`. */
  readonly url: string;

  constructor() {
    this.#server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      (req) => this.#handle(req),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /**
   * Pushes a commit of `files` to `main` of `repo` (created if new).
   * @returns the commit hash.
   */
  push(
    repo: string,
    files: Record<string, Uint8Array>,
    access: { token?: string; gated?: boolean } = {},
  ): string {
    const r = this.#repos.get(repo) ??
      { commits: new Map(), refs: new Map(), ...access };
    this.#repos.set(repo, r);
    const commit = hex("sha1", crypto.randomUUID());
    const tree = new Map<string, Blob>();
    for (const [name, bytes] of Object.entries(files)) {
      tree.set(name, {
        bytes,
        sha256: hex("sha256", bytes),
        gitSha1: hex("sha1", `blob ${bytes.length}\0`, bytes),
      });
    }
    r.commits.set(commit, tree);
    r.refs.set("main", commit);
    return commit;
  }

  /** The sha256 of a file at the head of main. */
  sha256(repo: string, file: string): string {
    const r = this.#repos.get(repo)!;
    return r.commits.get(r.refs.get("main")!)!.get(file)!.sha256;
  }

  /** Requests logged so far with a method. */
  count(method: string): number {
    return this.log.filter((r) => r.method === method).length;
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  #handle(req: Request): Response {
    const path = decodeURIComponent(new URL(req.url).pathname);
    this.log.push({
      method: req.method,
      path,
      range: req.headers.get("range"),
      auth: req.headers.get("authorization"),
    });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      for (const r of this.#repos.values()) {
        for (const tree of r.commits.values()) {
          for (const blob of tree.values()) {
            if (blob.sha256 === cdn[1]) {
              return this.#serve(req, blob, blob.sha256, {});
            }
          }
        }
      }
      return new Response("no such blob", { status: 404 });
    }
    const raw = new URL(req.url).pathname;
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(raw);
    if (!m) return new Response("not found", { status: 404 });
    const [repoId, revision, file] = [m[1], m[2], m[3]].map(decodeURIComponent);
    const moved = this.renamed.get(repoId);
    if (moved) {
      return new Response(null, {
        status: 307,
        headers: { location: `/${moved}/resolve/${m[2]}/${m[3]}` },
      });
    }
    const repo = this.#repos.get(repoId);
    const error = (status: number, code: string, message: string) =>
      new Response(message, {
        status,
        headers: { "x-error-code": code, "x-error-message": message },
      });
    if (!repo) return error(401, "RepoNotFound", "Repository not found");
    const auth = req.headers.get("authorization");
    if (repo.token && auth !== `Bearer ${repo.token}`) {
      if (!repo.gated) {
        return error(401, "RepoNotFound", "Repository not found");
      }
      return auth
        ? error(403, "GatedRepo", "Access to this model is restricted")
        : error(401, "GatedRepo", "You must be authenticated");
    }
    const commit = repo.refs.get(revision) ??
      (repo.commits.has(revision) ? revision : undefined);
    if (!commit) return error(404, "RevisionNotFound", "Invalid rev id");
    const blob = repo.commits.get(commit)!.get(file);
    if (!blob) {
      const res = error(404, "EntryNotFound", "Entry not found");
      res.headers.set("x-repo-commit", commit);
      return res;
    }
    if (file.endsWith(".safetensors")) {
      return new Response(null, {
        status: 302,
        headers: {
          location: `${this.url}/cdn/${blob.sha256}`,
          "x-repo-commit": commit,
          "x-linked-etag": `"${blob.sha256}"`,
          "x-linked-size": String(
            this.misstatedSize.get(blob.sha256) ?? blob.bytes.length,
          ),
          etag: `"${hex("sha1", "pointer", blob.sha256)}"`,
        },
      });
    }
    return this.#serve(req, blob, blob.gitSha1, {
      "x-repo-commit": commit,
      etag: `"${blob.gitSha1}"`,
    });
  }

  /** The bytes, honouring Range, cut or corrupted when asked. */
  #serve(
    req: Request,
    blob: Blob,
    etag: string,
    extra: Record<string, string>,
  ): Response {
    let bytes = blob.bytes;
    if (this.corrupt.has(blob.sha256)) {
      bytes = bytes.slice();
      bytes[0] ^= 0xff;
    }
    const total = bytes.length;
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start > 0 && start >= total) {
      return new Response(null, {
        status: 416,
        headers: { "content-range": `bytes */${total}` },
      });
    }
    const body = bytes.subarray(start);
    const headers: Record<string, string> = {
      ...extra,
      etag: extra.etag ?? `"${etag}"`,
      "content-length": String(body.length),
      "accept-ranges": "bytes",
    };
    if (range) {
      headers["content-range"] = `bytes ${start}-${total - 1}/${total}`;
    }
    const status = range ? 206 : 200;
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const cut = this.cuts.get(blob.sha256);
    if (cut && cut.times > 0) {
      cut.times--;
      const keep = Math.max(0, cut.after - start);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.slice(0, keep));
          // Fewer bytes than Content-Length, then the end: the connection drops.
          setTimeout(() => c.close(), 20);
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(body.slice(), { status, headers });
  }
}
