/**
 * Hub downloads that go wrong, against the local fake Hub: a connection cut
 * half-way (the part kept as `.incomplete`, resumed with `Range` in the same
 * call or the next), sizes and checksums checked against what the server
 * sent, the 401/403/404 errors naming the repository, the file and what to
 * do, HF_TOKEN and the saved token, offline and unreachable Hubs, and two
 * downloads at once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModel } from "../models/io.ts";
import { downloadHubModel } from "../models/hub.ts";
import {
  hubEnv,
  listDir,
  opts,
  REPO,
  setup,
  text,
  TINY,
  tinyFiles,
  withEnv,
  withHub,
} from "./_hub_setup.ts";

Deno.test(
  "a download cut half-way stays as .incomplete; the next run resumes with Range",
  opts,
  async () => {
    await withHub(async ({ hub, o, cache }) => {
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
    });
  },
);

Deno.test(
  "a cut connection is resumed within the same call (retries)",
  opts,
  async () => {
    await withHub(async ({ hub, o }) => {
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
    });
  },
);

Deno.test(
  "sizes and checksums are checked against what the server sent",
  opts,
  async () => {
    await withHub(async ({ hub, o, cache }) => {
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
    });
  },
);

Deno.test(
  "404, 401 and 403: errors name the repository, the file and what to do",
  opts,
  async () => {
    await withHub(async ({ hub, o }) => {
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
    });
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
  "two downloads of one repository at once fetch each file once (a file lock)",
  opts,
  async () => {
    await withHub(async ({ hub, o }) => {
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
    });
  },
);
