// A model folder served over HTTP (serve/generate --model http://…): its
// shard index is checked before any shard is fetched, so a "../" name can
// neither be fetched from outside the folder nor written outside the
// temporary download folder.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { downloadModelFolder } from "../infer/load.ts";
import { FIXTURES } from "./_util.ts";

Deno.test("served folder: a shard name outside the folder is refused before it is fetched", async () => {
  const config = await Deno.readFile(join(FIXTURES, "tiny", "config.json"));
  const escaped = `outside-${crypto.randomUUID()}.safetensors`;
  const fetched: string[] = [];
  const files: Record<string, Uint8Array<ArrayBuffer> | string> = {
    "/models/evil/config.json": config,
    "/models/evil/model.safetensors.index.json": JSON.stringify({
      weight_map: { "backbone.embeddings.weight": `../${escaped}` },
    }),
    [`/models/${escaped}`]: "not a checkpoint",
  };
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      fetched.push(path);
      const body = files[path];
      return body === undefined
        ? new Response("not found", { status: 404 })
        : new Response(body);
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}/models/evil/`;
  const probe = await Deno.makeTempDir();
  await Deno.remove(probe);
  await assert.rejects(
    () => downloadModelFolder(base),
    (e: Error) => {
      assert.equal(
        e.message,
        `${base}model.safetensors.index.json: weight_map["backbone.embeddings.weight"]: expected a file inside the model folder (a relative path without ".."), received "../${escaped}"`,
      );
      return true;
    },
  );
  assert.ok(!fetched.includes(`/models/${escaped}`), "the shard was fetched");
  // Nothing was written beside the temporary folders.
  await assert.rejects(() => Deno.stat(join(dirname(probe), escaped)));
});
