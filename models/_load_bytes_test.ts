import assert from "node:assert/strict";
import { setBackend, type tf } from "../kernels/backend.ts";
import { type ModelFiles, modelFromFiles } from "./_load_bytes.ts";
import { loadModel } from "./io.ts";

await setBackend("cpu");

const TINY = new URL("../tests/fixtures/hf-mamba/tiny/", import.meta.url);

/** In-memory files, as the browser page holds them. */
function memoryFiles(files: Record<string, Uint8Array>): ModelFiles {
  return {
    where: "<memory>",
    path: (name) => `<memory>/${name}`,
    read: (name) => Promise.resolve(files[name] ?? null),
  };
}

async function tinyFiles(): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of ["config.json", "model.safetensors"]) {
    out[name] = await Deno.readFile(new URL(name, TINY));
  }
  return out;
}

Deno.test("modelFromFiles on in-memory files gives loadModel's model (same logits)", async () => {
  const { model, hfConfig } = await modelFromFiles(
    memoryFiles(await tinyFiles()),
  );
  const fromDisk = await loadModel(TINY.pathname);
  assert.equal(hfConfig?.model_type, "mamba");
  const ids = [[1, 2, 3, 200]];
  const a = await (model.forward(ids) as tf.Tensor).data();
  const b = await (fromDisk.forward(ids) as tf.Tensor).data();
  assert.deepEqual(a, b);
  model.dispose();
  fromDisk.dispose();
});

Deno.test("modelFromFiles names the missing or bad file", async () => {
  const files = await tinyFiles();
  await assert.rejects(
    modelFromFiles(
      memoryFiles({ "model.safetensors": files["model.safetensors"] }),
    ),
    /<memory>: expected architecture.json \(native\) or config.json/,
  );
  await assert.rejects(
    modelFromFiles(memoryFiles({ "config.json": files["config.json"] })),
    /<memory>: expected model.safetensors or model.safetensors.index.json/,
  );
  await assert.rejects(
    modelFromFiles(
      memoryFiles({
        "config.json": files["config.json"],
        "model.safetensors.index.json": new TextEncoder().encode(
          JSON.stringify({ weight_map: { "a": "shard-1.safetensors" } }),
        ),
      }),
    ),
    /<memory>\/shard-1.safetensors: listed in <memory>\/model.safetensors.index.json, not found/,
  );
  await assert.rejects(
    modelFromFiles(
      memoryFiles({
        "config.json": new TextEncoder().encode("{oops"),
        "model.safetensors": files["model.safetensors"],
      }),
    ),
    /<memory>\/config.json: invalid JSON/,
  );
  for (const [text, received] of [["null", "null"], ["[1, 2]", "an array"]]) {
    await assert.rejects(
      modelFromFiles(
        memoryFiles({
          "config.json": new TextEncoder().encode(text),
          "model.safetensors": files["model.safetensors"],
        }),
      ),
      new RegExp(
        `^Error: <memory>/config\\.json: expected a JSON object, received ${received}$`,
      ),
    );
  }
});
