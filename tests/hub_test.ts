/**
 * Models from the Hub, against a local server that answers like it
 * (tests/_fake_hub.ts, 127.0.0.1 only: no test touches the real network):
 * the Hugging Face cache layout, no second download, HF_HUB_OFFLINE,
 * revisions, sharded weights, resuming a cut download, size and checksum
 * checks, the 401/403/404 errors, HF_ENDPOINT / HF_TOKEN / HF_HUB_CACHE /
 * HF_HOME, and the loaded model's logits equal (exactly: the same bytes) to
 * loading the fixture folder directly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { setBackend } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import {
  downloadHubModel,
  type HubOptions,
  parseHubName,
  resolveModelSource,
} from "../models/hub.ts";
import { readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import { loadServedModel } from "../infer/load.ts";
import { FakeHub } from "./_fake_hub.ts";
import { fixtureDir, greedyFixture } from "./_infer_fixtures.ts";

const TINY = fixtureDir("tiny");
const REPO = "test-org/tiny-mamba";
const opts = { sanitizeOps: false, sanitizeResources: false };
const text = (s: string) => new TextEncoder().encode(s);

/** The tiny fixture as a Hub repository, with a byte-level tokenizer config. */
async function tinyFiles(): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    "tokenizer_config.json": text(
      JSON.stringify({
        tokenizer_class: "ByteLevelTokenizer",
        vocab_size: 256,
      }),
    ),
  };
  for (
    const f of ["config.json", "model.safetensors", "generation_config.json"]
  ) {
    files[f] = await Deno.readFile(join(TINY, f));
  }
  return files;
}

/** A fresh fake Hub holding REPO, a fresh cache folder, and options for both. */
async function setup(): Promise<
  { hub: FakeHub; commit: string; cache: string; o: HubOptions }
> {
  const hub = new FakeHub();
  const commit = hub.push(REPO, await tinyFiles());
  const cache = await Deno.makeTempDir({ prefix: "hub-cache-" });
  return {
    hub,
    commit,
    cache,
    // offline: false, so that an HF_HUB_OFFLINE of the machine changes nothing.
    o: { endpoint: hub.url, cacheDir: cache, progress: false, offline: false },
  };
}

async function withEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(
    Object.keys(vars).map((k) => [k, Deno.env.get(k)]),
  );
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) Deno.env.delete(k);
      else Deno.env.set(k, x);
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

const HUB_VARS = [
  "HF_ENDPOINT",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
  "HF_TOKEN",
  "HUGGING_FACE_HUB_TOKEN",
  "HF_TOKEN_PATH",
  "HF_HUB_OFFLINE",
];
/** Environment for a test: every Hub variable cleared, then `vars`. */
const hubEnv = (vars: Record<string, string | undefined>) => ({
  ...Object.fromEntries(HUB_VARS.map((k) => [k, undefined])),
  HF_TOKEN_PATH: "/nonexistent/hf-token", // not a login token of the machine
  HF_HUB_DISABLE_PROGRESS_BARS: "1",
  ...vars,
});

async function logitsOf(source: string): Promise<Float32Array> {
  const model = await loadModel(source);
  const out = model.forward([[1, 5, 9, 200, 3, 77]]);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  model.dispose();
  return data;
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names.sort();
}

Deno.test("parseHubName: org/name[@revision]; paths and bad ids are not names", () => {
  assert.deepEqual(parseHubName("state-spaces/mamba-130m-hf"), {
    repo: "state-spaces/mamba-130m-hf",
  });
  assert.deepEqual(parseHubName("a/b@refs/pr/1"), {
    repo: "a/b",
    revision: "refs/pr/1",
  });
  for (
    const bad of [
      "./a/b",
      "/abs/path",
      "a/b/c",
      "mamba",
      "a--b/c",
      "a/b@",
      "a/b@../x",
      "-a/b",
    ]
  ) {
    assert.equal(parseHubName(bad), undefined, bad);
  }
});

Deno.test(
  "loadModel(org/name): the HF cache layout, and logits equal to the folder's",
  opts,
  async () => {
    await setBackend("cpu");
    const { hub, commit, cache } = await setup();
    try {
      const viaHub = await withEnv(
        hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache }),
        () => logitsOf(REPO),
      );
      assert.deepEqual(viaHub, await logitsOf(TINY));

      const root = join(cache, "models--test-org--tiny-mamba");
      assert.deepEqual(await listDir(root), [
        ".no_exist",
        "blobs",
        "refs",
        "snapshots",
      ]);
      assert.equal(await Deno.readTextFile(join(root, "refs", "main")), commit);
      const files = await tinyFiles();
      const snap = join(root, "snapshots", commit);
      assert.deepEqual(await listDir(snap), Object.keys(files).sort());
      const blobs = [];
      for (const [name, bytes] of Object.entries(files)) {
        const link = await Deno.readLink(join(snap, name));
        const etag = name.endsWith(".safetensors")
          ? hub.sha256(REPO, name)
          : (await import("node:crypto")).createHash("sha1")
            .update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
        assert.equal(link, `../../blobs/${etag}`, name);
        assert.deepEqual(await Deno.readFile(join(snap, name)), bytes, name);
        blobs.push(etag);
      }
      assert.deepEqual(await listDir(join(root, "blobs")), blobs.sort());
      assert.deepEqual(await listDir(join(root, ".no_exist", commit)), [
        "special_tokens_map.json",
        "tokenizer.json",
      ]);
      // HEAD of the 4 files + 2 absent optional ones; one GET per file (the
      // weights from the LFS redirect's location).
      assert.equal(hub.count("HEAD"), 6);
      assert.equal(hub.count("GET"), 4);
      assert.ok(
        hub.log.some((r) => r.method === "GET" && r.path.startsWith("/cdn/")),
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "a second call makes one HEAD and no GET; offline or at a commit, no request",
  opts,
  async () => {
    const { hub, commit, o } = await setup();
    try {
      const dir = await downloadHubModel(REPO, o);
      hub.log.length = 0;
      assert.equal(await downloadHubModel(REPO, o), dir);
      assert.deepEqual(hub.log.map((r) => `${r.method} ${r.path}`), [
        `HEAD /${REPO}/resolve/main/config.json`,
      ]);
      hub.log.length = 0;
      assert.equal(await downloadHubModel(REPO, { ...o, offline: true }), dir);
      assert.equal(await downloadHubModel(`${REPO}@${commit}`, o), dir);
      assert.equal(
        await downloadHubModel(REPO, { ...o, revision: commit }),
        dir,
      );
      await withEnv(
        { HF_HUB_OFFLINE: "1" },
        () => downloadHubModel(REPO, { ...o, offline: undefined }),
      );
      assert.equal(hub.log.length, 0);
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "a new commit on main: only the changed file is downloaded; revisions pick snapshots",
  opts,
  async () => {
    const { hub, commit, o } = await setup();
    try {
      const old = await downloadHubModel(REPO, o);
      const files = await tinyFiles();
      files["generation_config.json"] = text('{"eos_token_id": 7}');
      const next = hub.push(REPO, files);
      hub.log.length = 0;
      const dir = await downloadHubModel(REPO, o);
      assert.ok(dir.endsWith(next) && old.endsWith(commit));
      assert.deepEqual(
        hub.log.filter((r) => r.method === "GET").map((r) => r.path),
        [`/${REPO}/resolve/${next}/generation_config.json`],
      );
      assert.equal(
        await Deno.readTextFile(join(dir, "generation_config.json")),
        '{"eos_token_id": 7}',
      );
      assert.equal(await downloadHubModel(`${REPO}@${commit}`, o), old);
      await assert.rejects(
        downloadHubModel(`${REPO}@no-such-branch`, o),
        /test-org\/tiny-mamba: config\.json \(revision no-such-branch\): HTTP 404 RevisionNotFound.*no revision "no-such-branch"/,
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "sharded weights: the index and its shards; logits equal the folder's",
  opts,
  async () => {
    await setBackend("cpu");
    const { hub, o } = await setup();
    try {
      const { tensors } = await readSafetensors(
        join(TINY, "model.safetensors"),
      );
      const tmp = await Deno.makeTempDir();
      const names = [...tensors.keys()];
      const weightMap: Record<string, string> = {};
      const files = await tinyFiles();
      delete files["model.safetensors"];
      for (const [i, part] of [names.slice(0, 5), names.slice(5)].entries()) {
        const file = `model-0000${i + 1}-of-00002.safetensors`;
        const pick = Object.fromEntries(part.map((n) => {
          const t = tensors.get(n)!;
          weightMap[n] = file;
          return [n, { data: t.data as Float32Array, shape: t.shape }];
        }));
        await writeSafetensors(join(tmp, file), pick);
        files[file] = await Deno.readFile(join(tmp, file));
      }
      files["model.safetensors.index.json"] = text(
        JSON.stringify({ metadata: {}, weight_map: weightMap }),
      );
      hub.push("test-org/sharded", files);
      const dir = await downloadHubModel("test-org/sharded", o);
      assert.deepEqual(await logitsOf(dir), await logitsOf(TINY));
      assert.equal(hub.log.filter((r) => r.path.startsWith("/cdn/")).length, 2);

      weightMap[names[0]] = "../../../outside.safetensors";
      files["model.safetensors.index.json"] = text(
        JSON.stringify({ weight_map: weightMap }),
      );
      hub.push("test-org/sharded", files);
      await assert.rejects(
        downloadHubModel("test-org/sharded", o),
        /model\.safetensors\.index\.json: weight_map\["backbone[^"]*"\]: expected a file name inside the repository, received "\.\.\/\.\.\/\.\.\/outside\.safetensors"/,
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "a download cut half-way stays as .incomplete; the next run resumes with Range",
  opts,
  async () => {
    const { hub, o, cache } = await setup();
    try {
      const sha = hub.sha256(REPO, "model.safetensors");
      const size = (await tinyFiles())["model.safetensors"].length;
      const half = Math.floor(size / 2);
      hub.cuts.set(sha, { after: half, times: 1 });
      await assert.rejects(
        downloadHubModel(REPO, { ...o, retries: 0 }),
        new RegExp(
          `test-org/tiny-mamba: model\\.safetensors: download interrupted at ${half} of ${size} bytes after 1 attempts .*run again to resume`,
        ),
      );
      const blobs = join(cache, "models--test-org--tiny-mamba", "blobs");
      assert.equal(
        (await Deno.stat(join(blobs, `${sha}.incomplete`))).size,
        half,
      );
      hub.log.length = 0;
      const dir = await downloadHubModel(REPO, o);
      const gets = hub.log.filter((r) =>
        r.method === "GET" && r.path === `/cdn/${sha}`
      );
      assert.deepEqual(gets.map((r) => r.range), [`bytes=${half}-`]);
      assert.deepEqual(
        await Deno.readFile(join(dir, "model.safetensors")),
        await Deno.readFile(join(TINY, "model.safetensors")),
      );
      assert.ok(!(await listDir(blobs)).some((n) => n.endsWith(".incomplete")));
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "a cut connection is resumed within the same call (retries)",
  opts,
  async () => {
    const { hub, o } = await setup();
    try {
      const sha = hub.sha256(REPO, "model.safetensors");
      hub.cuts.set(sha, { after: 30000, times: 2 });
      const dir = await downloadHubModel(REPO, o);
      const ranges = hub.log.filter((r) => r.path === `/cdn/${sha}`)
        .map((r) => r.range);
      assert.deepEqual(ranges, [null, "bytes=30000-", "bytes=30000-"]);
      assert.deepEqual(
        await Deno.readFile(join(dir, "model.safetensors")),
        await Deno.readFile(join(TINY, "model.safetensors")),
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "sizes and checksums are checked against what the server sent",
  opts,
  async () => {
    const { hub, o, cache } = await setup();
    try {
      const sha = hub.sha256(REPO, "model.safetensors");
      const blobs = join(cache, "models--test-org--tiny-mamba", "blobs");
      hub.corrupt.add(sha);
      await assert.rejects(
        downloadHubModel(REPO, o),
        /test-org\/tiny-mamba: model\.safetensors: the downloaded bytes do not match the ETag the server sent \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)/,
      );
      assert.ok(!(await listDir(blobs)).some((n) => n.startsWith(sha)));
      hub.corrupt.clear();
      hub.misstatedSize.set(sha, 1000);
      await assert.rejects(
        downloadHubModel(REPO, { ...o, retries: 0 }),
        /model\.safetensors: the server sent more than the 1000 bytes it announced/,
      );
      hub.misstatedSize.set(sha, 200000);
      await assert.rejects(
        downloadHubModel(REPO, { ...o, retries: 0 }),
        /model\.safetensors: download interrupted at 102384 of 200000 bytes/,
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "404, 401 and 403: errors name the repository, the file and what to do",
  opts,
  async () => {
    const { hub, o } = await setup();
    try {
      await withEnv(
        hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: o.cacheDir! }),
        async () => {
          await assert.rejects(
            loadModel("no-such/repo"),
            /no-such\/repo: config\.json \(revision main\): HTTP 401 RepoNotFound "Repository not found" from http:\/\/127\.0\.0\.1:\d+: no repository of that name that you can read: check the name .*set HF_TOKEN \(and there is no local folder "no-such\/repo"\)/,
          );
        },
      );
      hub.push("test-org/gated", await tinyFiles(), {
        token: "hf_good",
        gated: true,
      });
      await withEnv(hubEnv({}), () =>
        assert.rejects(
          downloadHubModel("test-org/gated", o),
          /test-org\/gated: config\.json \(revision main\): HTTP 401 GatedRepo.*accept its conditions at http:\/\/127\.0\.0\.1:\d+\/test-org\/gated and set HF_TOKEN/,
        ));
      await assert.rejects(
        downloadHubModel("test-org/gated", { ...o, token: "hf_bad" }),
        /HTTP 403 GatedRepo.*the token in HF_TOKEN was sent and not accepted/,
      );
      hub.log.length = 0;
      await withEnv(
        hubEnv({ HF_TOKEN: "hf_good" }),
        () => downloadHubModel("test-org/gated", o),
      );
      const resolves = hub.log.filter((r) => r.path.includes("/resolve/"));
      assert.ok(resolves.length > 0);
      assert.ok(resolves.every((r) => r.auth === "Bearer hf_good"));
      // The token `hf auth login` saves, when HF_TOKEN is not set.
      const tokenFile = await Deno.makeTempFile();
      await Deno.writeTextFile(tokenFile, "hf_good\n");
      hub.log.length = 0;
      await withEnv(
        hubEnv({ HF_TOKEN_PATH: tokenFile }),
        () =>
          downloadHubModel("test-org/gated", {
            ...o,
            cacheDir: tokenFile + ".cache",
          }),
      );
      assert.ok(hub.count("GET") > 0);
      assert.ok(hub.log.every((r) => r.auth === "Bearer hf_good"));

      hub.push("test-org/no-weights", { "config.json": text("{}") });
      await assert.rejects(
        downloadHubModel("test-org/no-weights", o),
        /test-org\/no-weights@main: neither model\.safetensors nor model\.safetensors\.index\.json is in the repository/,
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "offline or unreachable: the cache serves; without it, a clear error",
  opts,
  async () => {
    const { hub, o } = await setup();
    await assert.rejects(
      downloadHubModel(REPO, { ...o, offline: true }),
      /test-org\/tiny-mamba: config\.json \(revision main\) is not in the Hugging Face cache \(.*models--test-org--tiny-mamba\) and HF_HUB_OFFLINE is set .*run once online/,
    );
    assert.equal(hub.log.length, 0);
    const dir = await downloadHubModel(REPO, o);
    await hub.close();
    // The server is gone: connection refused.
    assert.equal(await downloadHubModel(REPO, o), dir);
    await assert.rejects(
      downloadHubModel("test-org/other", o),
      /test-org\/other: config\.json \(revision main\) is not in the Hugging Face cache .* and http:\/\/127\.0\.0\.1:\d+ cannot be reached .*check the connection and HF_ENDPOINT/,
    );
  },
);

Deno.test(
  "a local folder wins over a Hub name; HF_HOME/hub is the default cache",
  opts,
  async () => {
    const { hub } = await setup();
    const cwd = Deno.cwd();
    const tmp = await Deno.makeTempDir();
    try {
      await Deno.mkdir(join(tmp, REPO), { recursive: true });
      for (const f of ["config.json", "model.safetensors"]) {
        await Deno.copyFile(join(TINY, f), join(tmp, REPO, f));
      }
      Deno.chdir(tmp);
      await withEnv(
        hubEnv({ HF_ENDPOINT: hub.url, HF_HOME: join(tmp, "hf") }),
        async () => {
          assert.equal(await resolveModelSource(REPO), REPO);
          assert.equal(hub.log.length, 0);
          const dir = await resolveModelSource(`${REPO}@main`);
          assert.ok(
            dir.startsWith(
              join(
                tmp,
                "hf",
                "hub",
                "models--test-org--tiny-mamba",
                "snapshots",
              ),
            ),
            dir,
          );
        },
      );
    } finally {
      Deno.chdir(cwd);
      await hub.close();
    }
  },
);

Deno.test(
  "a renamed repository's relative redirect is followed",
  opts,
  async () => {
    const { hub, commit, o } = await setup();
    try {
      hub.renamed.set("old-org/tiny", REPO);
      const dir = await downloadHubModel("old-org/tiny", o);
      assert.ok(
        dir.endsWith(join("models--old-org--tiny", "snapshots", commit)),
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "loadServedModel(org/name): the tokenizer and stop ids come along",
  opts,
  async () => {
    await setBackend("cpu");
    const { hub, o } = await setup();
    try {
      const served = await withEnv(
        hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: o.cacheDir! }),
        () => loadServedModel(REPO),
      );
      assert.equal(served.tokenizer?.kind, "byte");
      assert.deepEqual(served.stopTokenIds, [2]);
      served.model.dispose();
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "deno task generate --model org/name downloads and gives HF's greedy ids",
  opts,
  async () => {
    const { hub, o } = await setup();
    try {
      const { prompt, expected } = await greedyFixture("tiny");
      const cli = new URL("../cli/generate.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          cli,
          "--model",
          REPO,
          "--ids",
          prompt.join(","),
          "--greedy",
          "--max-new-tokens",
          String(expected.length),
          "--json",
          "--backend",
          "cpu",
        ],
        // Unset variables as "" (read as unset), progress bars on.
        env: Object.fromEntries(
          Object.entries(hubEnv({
            HF_ENDPOINT: hub.url,
            HF_HUB_CACHE: o.cacheDir!,
            HF_HUB_DISABLE_PROGRESS_BARS: undefined,
          })).map(([k, v]) => [k, v ?? ""]),
        ),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      const result = JSON.parse(
        new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!,
      );
      assert.deepEqual(result.output_ids, expected);
      assert.ok(hub.count("GET") > 0);
      // stderr is not a terminal here: one progress line per finished file.
      assert.match(
        err,
        /test-org\/tiny-mamba: model\.safetensors \[█{24}\] 102\.4 kB\/102\.4 kB /,
      );
    } finally {
      await hub.close();
    }
  },
);

Deno.test(
  "two downloads of one repository at once fetch each file once (a file lock)",
  opts,
  async () => {
    const { hub, o } = await setup();
    try {
      const [a, b] = await Promise.all([
        downloadHubModel(REPO, o),
        downloadHubModel(REPO, o),
      ]);
      assert.equal(a, b);
      assert.equal(hub.count("GET"), 4);
      assert.deepEqual(
        await Deno.readFile(join(a, "model.safetensors")),
        await Deno.readFile(join(TINY, "model.safetensors")),
      );
    } finally {
      await hub.close();
    }
  },
);
