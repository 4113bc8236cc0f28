/**
 * Models from the Hub, against a local server that answers like it
 * (tests/_fake_hub.ts, 127.0.0.1 only: no test touches the real network):
 * the Hugging Face cache layout, no second download (requests counted),
 * HF_HUB_OFFLINE, revisions, sharded weights, a local folder winning,
 * HF_ENDPOINT / HF_HUB_CACHE / HF_HOME, `loadServedModel` and
 * `generate --model`, and the loaded model's logits equal (exactly: the same
 * bytes) to loading the fixture folder directly. Failures (cuts, resumes,
 * checksums, 401/403/404, offline) are in hub_failures_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { setBackend } from "../kernels/backend.ts";
import {
  downloadHubModel,
  parseHubName,
  resolveModelSource,
} from "../models/hub.ts";
import { readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import { loadServedModel } from "../infer/load.ts";
import { greedyFixture } from "./_infer_fixtures.ts";
import {
  hubEnv,
  listDir,
  logitsOf,
  opts,
  REPO,
  setup,
  text,
  TINY,
  tinyFiles,
  withEnv,
  withHub,
} from "./_hub_setup.ts";
import { tempDirForModule } from "./_temp_dir.ts";

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
    await withHub(async ({ hub, commit, cache }) => {
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
    });
  },
);

Deno.test(
  "a second call makes one HEAD and no GET; offline or at a commit, no request",
  opts,
  async () => {
    await withHub(async ({ hub, commit, o }) => {
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
    });
  },
);

Deno.test(
  "a new commit on main: only the changed file is downloaded; revisions pick snapshots",
  opts,
  async () => {
    await withHub(async ({ hub, commit, o }) => {
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
    });
  },
);

Deno.test(
  "sharded weights: the index and its shards; logits equal the folder's",
  opts,
  async () => {
    await setBackend("cpu");
    await withHub(async ({ hub, o }) => {
      const { tensors } = await readSafetensors(
        join(TINY, "model.safetensors"),
      );
      const tmp = await tempDirForModule("hub-test-");
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
        /model\.safetensors\.index\.json: weight_map\["backbone[^"]*"\]: expected a file inside the model folder \(a relative path without "\.\."\), received "\.\.\/\.\.\/\.\.\/outside\.safetensors"/,
      );
    });
  },
);

Deno.test(
  "a local folder wins over a Hub name; HF_HOME/hub is the default cache",
  opts,
  async () => {
    const { hub } = await setup();
    const cwd = Deno.cwd();
    const tmp = await tempDirForModule("hub-test-");
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
    await withHub(async ({ hub, commit, o }) => {
      hub.renamed.set("old-org/tiny", REPO);
      const dir = await downloadHubModel("old-org/tiny", o);
      assert.ok(
        dir.endsWith(join("models--old-org--tiny", "snapshots", commit)),
      );
    });
  },
);

Deno.test(
  "a redirect loop between renamed repositories is an error naming it, not a hang",
  opts,
  async () => {
    await withHub(async ({ hub, o }) => {
      hub.renamed.set("loop-org/a", "loop-org/b");
      hub.renamed.set("loop-org/b", "loop-org/a");
      await assert.rejects(
        downloadHubModel("loop-org/a", o),
        /loop-org\/a: config\.json \(revision main\) from http:\/\/127\.0\.0\.1:\d+: expected at most 5 redirects, received more \(last to \/loop-org\/[ab]\/resolve\/main\/config\.json\)/,
      );
    });
  },
);

Deno.test(
  "loadServedModel(org/name): the tokenizer and stop ids come along",
  opts,
  async () => {
    await setBackend("cpu");
    await withHub(async ({ hub, o }) => {
      const served = await withEnv(
        hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: o.cacheDir! }),
        () => loadServedModel(REPO),
      );
      assert.equal(served.tokenizer?.kind, "byte");
      assert.deepEqual(served.stopTokenIds, [2]);
      served.model.dispose();
    });
  },
);

Deno.test(
  "deno task generate --model org/name downloads and gives HF's greedy ids",
  opts,
  async () => {
    await withHub(async ({ hub, o }) => {
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
    });
  },
);
