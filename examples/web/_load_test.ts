import assert from "node:assert/strict";
import { join } from "node:path";
import { setBackend } from "../../kernels/backend.ts";
import { generate } from "../../infer/generate.ts";
import { byteTokenizer } from "../../train/tokenizers.ts";
import { fixtureDir, greedyFixture } from "../../tests/_infer_fixtures.ts";
import { loadPageModel, pickedFiles, promptIds, remoteFiles } from "./_load.ts";

await setBackend("cpu");

/** A server answering like the Hub for one repository, `test/tiny`. */
function hub(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const m = /^\/test\/tiny\/resolve\/main\/([\w.-]+)$/.exec(
        new URL(req.url).pathname,
      );
      if (!m) return new Response("Repository not found", { status: 401 });
      try {
        return new Response(
          await Deno.readFile(join(fixtureDir("tiny"), m[1])),
        );
      } catch {
        return new Response("Entry not found", { status: 404 });
      }
    },
  );
}

Deno.test("remoteFiles: a Hub name reads {endpoint}/{repo}/resolve/{revision}/{file}; a folder URL reads beside it", () => {
  const files = remoteFiles("state-spaces/mamba-130m-hf", {
    endpoint: "http://127.0.0.1:9/",
    revision: "v1",
  });
  assert.equal(
    files.path("config.json"),
    "http://127.0.0.1:9/state-spaces/mamba-130m-hf/resolve/v1/config.json",
  );
  assert.equal(
    remoteFiles("gpt2").path("config.json"),
    "https://huggingface.co/gpt2/resolve/main/config.json",
  );
  const folder = remoteFiles("./models/tiny", {
    base: "http://h/page/index.html",
  });
  assert.equal(
    folder.path("config.json"),
    "http://h/page/models/tiny/config.json",
  );
  assert.throws(
    () => remoteFiles("not a name"),
    /model: expected a folder URL \(https:\/\/…, \.\/…\) or a Hub repository name \(owner\/name\), received "not a name"/,
  );
});

Deno.test("loadPageModel from a Hub-like server gives Hugging Face's greedy ids; a missing repository is a named 401", async () => {
  const server = hub();
  const endpoint = `http://127.0.0.1:${server.addr.port}`;
  try {
    const seen: string[] = [];
    const page = await loadPageModel(
      remoteFiles("test/tiny", {
        endpoint,
        onProgress: (file, loaded, total) => {
          if (loaded === total) seen.push(file);
        },
      }),
    );
    assert.deepEqual(page.stopTokenIds, [2]); // generation_config.json
    assert.equal(page.tokenizer, undefined);
    assert.ok(seen.includes("model.safetensors"));
    const { prompt, expected } = await greedyFixture("tiny");
    const [r] = await generate(page.model, [prompt], {
      maxNewTokens: expected.length,
      stopTokenIds: page.stopTokenIds,
    });
    assert.deepEqual(r.outputIds, expected);
    page.model.dispose();
    await assert.rejects(
      loadPageModel(remoteFiles("nobody/missing", { endpoint })),
      new RegExp(
        `^Error: ${endpoint}/nobody/missing/resolve/main/architecture.json: expected HTTP 200, received 401: the repository does not exist, or is private or gated$`,
      ),
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("remoteFiles: a download cut short is an error naming the file and the bytes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(4096));
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + "x".repeat(10),
        ),
      );
      conn.close();
    }
  })();
  const url = `http://127.0.0.1:${listener.addr.port}`;
  try {
    await assert.rejects(
      remoteFiles(url + "/m").read("model.safetensors"),
      new RegExp(
        `^Error: ${url}/m/model.safetensors: the download was cut after 10 of 1000 bytes`,
      ),
    );
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("pickedFiles: names below the picked folder", async () => {
  const file = (path: string, text: string) => {
    const f = new File([text], path.split("/").pop()!);
    Object.defineProperty(f, "webkitRelativePath", { value: path });
    return f;
  };
  const files = pickedFiles([
    file("tiny/config.json", "{}"),
    file("tiny/sub/a.txt", "a"),
  ]);
  assert.equal(files.where, "tiny");
  assert.equal(files.path("config.json"), "tiny/config.json");
  assert.equal(
    new TextDecoder().decode((await files.read("config.json"))!),
    "{}",
  );
  assert.equal(new TextDecoder().decode((await files.read("sub/a.txt"))!), "a");
  assert.equal(await files.read("model.safetensors"), null);
  assert.equal(await files.size?.("config.json"), 2);
  assert.equal(await files.size?.("model.safetensors"), null);
});

Deno.test("promptIds: ids: / [..] lists, text through the tokenizer, a clear error without one", () => {
  assert.deepEqual(promptIds("ids: 1, 2,3"), [1, 2, 3]);
  assert.deepEqual(promptIds(" [4 5]\n"), [4, 5]);
  assert.deepEqual(promptIds("hé", byteTokenizer()), [104, 195, 169]);
  assert.throws(
    () => promptIds("ids: 1, x"),
    /^Error: prompt: ids\[1\]: expected a non-negative integer, received "x"$/,
  );
  assert.throws(
    () => promptIds("hello"),
    /prompt: this model has no tokenizer \(no tokenizer.json\): give token ids, e.g. "ids: 1, 2, 3"/,
  );
});

Deno.test("loadPageModel finds the tokenizer: tokenizer.json (hf), or a config naming the byte tokenizer", async () => {
  const file = (name: string, data: BlobPart) => {
    const f = new File([data], name);
    Object.defineProperty(f, "webkitRelativePath", { value: `tiny/${name}` });
    return f;
  };
  const model = ["config.json", "model.safetensors"].map((name) =>
    file(name, Deno.readFileSync(join(fixtureDir("tiny"), name)))
  );
  const wordLevel = {
    version: "1.0",
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: "Whitespace" },
    post_processor: null,
    decoder: null,
    model: {
      type: "WordLevel",
      vocab: { "<unk>": 0, hello: 1, world: 2 },
      unk_token: "<unk>",
    },
  };
  const hf = await loadPageModel(pickedFiles([
    ...model,
    file("tokenizer.json", JSON.stringify(wordLevel)),
    file("tokenizer_config.json", JSON.stringify({ eos_token: "world" })),
  ]));
  assert.equal(hf.tokenizer?.kind, "hf");
  assert.deepEqual(promptIds("hello world", hf.tokenizer), [1, 2]);
  assert.deepEqual(hf.stopTokenIds, [2]); // the tokenizer's eos: no generation_config.json
  hf.model.dispose();
  const bytes = await loadPageModel(pickedFiles([
    ...model,
    file(
      "tokenizer_config.json",
      JSON.stringify({ tokenizer_class: "ByteLevelTokenizer" }),
    ),
  ]));
  assert.equal(bytes.tokenizer?.kind, "byte");
  bytes.model.dispose();
  // A weight file far larger than the config allows is refused by its size,
  // before its bytes are read.
  const huge = file("model.safetensors", "");
  Object.defineProperty(huge, "size", { value: 1e12 });
  huge.arrayBuffer = () => Promise.reject(new Error("read a huge file"));
  await assert.rejects(
    loadPageModel(pickedFiles([model[0], huge])),
    /^Error: tiny\/model.safetensors: expected at most .* bytes .*received a file of /,
  );
  await assert.rejects(
    loadPageModel(pickedFiles([...model, file("tokenizer.json", "{")])),
    /^Error: tiny\/tokenizer.json: invalid JSON/,
  );
});
