// loadModel on folders from strangers: absurd config sizes refused before
// anything is allocated, config errors named by file and key, sharded
// checkpoints whose index is malformed or points outside the folder, NaN
// weights, and a missing folder — each a clear error, never a crash, an OOM
// or a silently wrong model.
import assert from "node:assert/strict";
import { join } from "node:path";
import { setBackend, type tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import {
  readSafetensors,
  type SafeTensorInput,
  writeSafetensors,
} from "../models/safetensors.ts";
import { FIXTURES } from "./_util.ts";
import { tempDirForModule } from "./_temp_dir.ts";

await setBackend("cpu");

const TINY = join(FIXTURES, "tiny");
const INDEX = "model.safetensors.index.json";

/** A temporary copy of the tiny fixture, `config.json` patched. */
async function tinyCopy(patch: Record<string, unknown> = {}): Promise<string> {
  const dir = await tempDirForModule("load_errors_");
  const config = JSON.parse(await Deno.readTextFile(join(TINY, "config.json")));
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({ ...config, ...patch }),
  );
  await Deno.copyFile(
    join(TINY, "model.safetensors"),
    join(dir, "model.safetensors"),
  );
  return dir;
}

/** The tiny fixture's tensors, as writeSafetensors takes them. */
async function tinyTensors(): Promise<Record<string, SafeTensorInput>> {
  const { tensors } = await readSafetensors(join(TINY, "model.safetensors"));
  const out: Record<string, SafeTensorInput> = {};
  for (const [name, t] of tensors) {
    out[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  return out;
}

/**
 * The tiny fixture split into two shards and an index; `index` patches the
 * index's weight_map before it is written.
 */
async function shardedCopy(
  edit: (weightMap: Record<string, unknown>) => unknown = (m) => m,
  shardB: (tensors: Record<string, SafeTensorInput>) => void = () => {},
): Promise<string> {
  const dir = await tinyCopy();
  await Deno.remove(join(dir, "model.safetensors"));
  const tensors = await tinyTensors();
  const names = Object.keys(tensors).sort();
  const half = Math.ceil(names.length / 2);
  const a: Record<string, SafeTensorInput> = {};
  const b: Record<string, SafeTensorInput> = {};
  const weightMap: Record<string, unknown> = {};
  names.forEach((name, i) => {
    const file = i < half
      ? "model-00001-of-00002.safetensors"
      : "model-00002-of-00002.safetensors";
    (i < half ? a : b)[name] = tensors[name];
    weightMap[name] = file;
  });
  shardB(b);
  await writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), a);
  await writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), b);
  await Deno.writeTextFile(
    join(dir, INDEX),
    JSON.stringify({ metadata: {}, weight_map: edit(weightMap) }),
  );
  return dir;
}

/** loadModel must fail, fast, with a message matching every pattern. */
async function refuses(
  dir: string,
  patterns: RegExp[],
  options = {},
): Promise<string> {
  const t0 = performance.now();
  try {
    (await loadModel(dir, options)).dispose();
  } catch (e) {
    const message = (e as Error).message;
    assert.ok(!(e instanceof TypeError), `a raw TypeError: ${message}`);
    assert.ok(!(e instanceof RangeError), `a raw RangeError: ${message}`);
    for (const p of patterns) assert.match(message, p);
    assert.ok(performance.now() - t0 < 10_000, "took over 10 s");
    return message;
  }
  assert.fail(`loadModel(${dir}) succeeded`);
}

async function logitsOf(dir: string, options = {}): Promise<Float32Array> {
  const model = await loadModel(dir, options);
  const out = await (model.forward([[1, 2, 3, 200]]) as tf.Tensor).data();
  model.dispose();
  return out as Float32Array;
}

Deno.test("load: config sizes of a billion are refused by file and key, before any allocation", async () => {
  const layers = await tinyCopy({ num_hidden_layers: 1e9 });
  const message = await refuses(layers, [
    /config\.json: num_hidden_layers: expected a size that keeps the model within 4,000,000,000 parameters \(the maxParameters limit\), received 1000000000, which makes 8\.42e\+12 parameters/,
  ]);
  assert.doesNotMatch(message, /nodes\[/);
  await refuses(await tinyCopy({ hidden_size: 1e9, intermediate_size: 2e9 }), [
    /config\.json: hidden_size: expected a size that keeps the model within/,
  ]);
  await refuses(await tinyCopy({ state_size: 1e9 }), [
    /config\.json: state_size: expected a size that keeps the model within/,
  ]);
  // The option reaches the check (lowered here, to show it): the tiny model
  // has 25,056 parameters, and a limit of exactly that loads it.
  const tiny = await tinyCopy();
  await refuses(tiny, [
    /config\.json: num_hidden_layers: expected a size that keeps the model within 1,000 parameters \(the maxParameters limit\), received 2, which makes 25,056 parameters/,
  ], { limits: { maxParameters: 1000 } });
  const logits = await logitsOf(tiny, { limits: { maxParameters: 25_056 } });
  assert.equal(logits.length, 4 * 256);
});

Deno.test("load: config.json errors name the file and the key, not a DSL path", async () => {
  const eps = await tinyCopy({ layer_norm_epsilon: -1 });
  const message = await refuses(eps, [
    new RegExp(
      `^${
        join(eps, "config.json")
      }: layer_norm_epsilon: expected a positive number, received -1$`,
    ),
  ]);
  assert.doesNotMatch(message, /nodes\[|eps:/);
  await refuses(await tinyCopy({ time_step_rank: 1e9 }), [
    /config\.json: time_step_rank: expected "auto" or an integer <= dInner = 64 \(expand 2 \* dim 32\), received 1000000000$/,
  ]);
  await refuses(await tinyCopy({ time_step_min: 0 }), [
    /config\.json: time_step_min: expected a positive number, received 0$/,
  ]);
  await refuses(await tinyCopy({ intermediate_size: 32e9 }), [
    /config\.json: intermediate_size: expected a size that keeps the model within 4,000,000,000 parameters \(the maxParameters limit\), received 32000000000, which makes/,
  ]);
});

Deno.test("load: a sharded checkpoint loads as the single file does", async () => {
  const sharded = await shardedCopy();
  assert.deepEqual(await logitsOf(sharded), await logitsOf(TINY));
});

Deno.test("load: a malformed weight_map is refused naming the index file", async () => {
  const first = "backbone.embeddings.weight";
  const index = (dir: string) => join(dir, INDEX).replaceAll(".", "\\.");
  let dir = await shardedCopy((m) => ({ ...m, [first]: 5 }));
  await refuses(dir, [
    new RegExp(
      `^${
        index(dir)
      }: weight_map\\["${first}"\\]: expected a shard file name, received 5$`,
    ),
  ]);
  dir = await shardedCopy((m) => Object.values(m));
  await refuses(dir, [
    new RegExp(
      `^${
        index(dir)
      }: weight_map: expected an object of tensor name → shard file, received an array$`,
    ),
  ]);
  dir = await shardedCopy(() => ({}));
  await refuses(dir, [
    new RegExp(`^${index(dir)}: weight_map: expected at least one tensor`),
  ]);
});

Deno.test("load: weight_map paths outside the model folder are refused, never read", async () => {
  // A shard that would load, placed beside the model folder.
  const outside = await shardedCopy();
  for (
    const path of [
      "../" + outside.split("/").pop() + "/model-00001-of-00002.safetensors",
      join(outside, "model-00001-of-00002.safetensors"),
      "sub/../../model-00001-of-00002.safetensors",
      "..\\model-00001-of-00002.safetensors",
      "C:\\model.safetensors",
      "http://example.com/model-00001-of-00002.safetensors",
      "%2E%2e/model-00001-of-00002.safetensors",
      "/model-00001-of-00002.safetensors",
    ]
  ) {
    const dir = await shardedCopy((m) => {
      const out = { ...m };
      for (const k of Object.keys(out)) {
        if (out[k] === "model-00001-of-00002.safetensors") out[k] = path;
      }
      return out;
    });
    await refuses(dir, [
      new RegExp(`^${join(dir, INDEX).replaceAll(".", "\\.")}: weight_map\\[`),
      /expected a file inside the model folder \(a relative path without "\.\."\), received/,
    ]);
  }
});

Deno.test("load: a tensor in two shards, in a shard the index does not name, or in none, is refused", async () => {
  const name = "backbone.layers.0.mixer.D";
  // Shard 2 also holds a tensor of shard 1.
  let dir = await shardedCopy(undefined, (b) => {
    b["backbone.embeddings.weight"] = {
      shape: [256, 32],
      data: new Float32Array(256 * 32),
    };
  });
  await refuses(dir, [
    /model\.safetensors\.index\.json: tensor "backbone\.embeddings\.weight": expected in one shard, received it in two, "model-00001-of-00002\.safetensors" and "model-00002-of-00002\.safetensors"$/,
  ]);
  // The index gives a tensor to the other shard.
  dir = await shardedCopy((m) => ({
    ...m,
    [name]: m[name] === "model-00001-of-00002.safetensors"
      ? "model-00002-of-00002.safetensors"
      : "model-00001-of-00002.safetensors",
  }));
  await refuses(dir, [
    new RegExp(
      `index\\.json: tensor "${
        name.replaceAll(".", "\\.")
      }": found in "model-0000[12]-of-00002\\.safetensors", listed in "model-0000[12]-of-00002\\.safetensors"$`,
    ),
  ]);
  // A tensor missing from the index, and one the index lists that no shard has.
  dir = await shardedCopy((m) => {
    const { [name]: _, ...rest } = m;
    return rest;
  });
  await refuses(dir, [
    /index\.json: tensor "backbone\.layers\.0\.mixer\.D": found in "model-0000[12]-of-00002\.safetensors", not listed in weight_map$/,
  ]);
  dir = await shardedCopy((m) => ({
    ...m,
    "ghost.weight": "model-00001-of-00002.safetensors",
  }));
  await refuses(dir, [
    /index\.json: weight_map\["ghost\.weight"\]: expected "model-00001-of-00002\.safetensors" to hold the tensor, it does not$/,
  ]);
});

Deno.test("load: NaN or infinite weights are refused by tensor name unless allowed", async () => {
  const dir = await tinyCopy();
  const tensors = await tinyTensors();
  const name = "backbone.layers.1.mixer.A_log";
  const data = new Float32Array(tensors[name].data as Float32Array);
  data[5] = NaN;
  data[9] = -Infinity;
  tensors[name] = { shape: tensors[name].shape, data };
  await writeSafetensors(join(dir, "model.safetensors"), tensors);
  await refuses(dir, [
    new RegExp(
      `^${
        join(dir, "model.safetensors")
      }: tensor "backbone\\.layers\\.1\\.mixer\\.A_log": expected finite weights, received 2 of 512 elements NaN or infinite \\(the first, element 5, is NaN\\); loadModel's option allowNonFinite: true loads them anyway$`,
    ),
  ]);
  const logits = await logitsOf(dir, { allowNonFinite: true });
  assert.ok(logits.every(Number.isNaN), "every logit NaN, as the probe saw");
  // A sharded checkpoint is checked the same way.
  const sharded = await shardedCopy(undefined, (b) => {
    const key = Object.keys(b)[0];
    const copy = new Float32Array(b[key].data as Float32Array);
    copy[0] = Infinity;
    b[key] = { shape: b[key].shape, data: copy };
  });
  await refuses(sharded, [
    /model-00002-of-00002\.safetensors: tensor ".*": expected finite weights, received 1 of \d+ elements NaN or infinite \(the first, element 0, is Infinity\)/,
  ]);
});

Deno.test("load: a weight file larger than the architecture can fill is refused unread", async () => {
  // A sparse 64 GB model.safetensors: reading it would exhaust memory.
  const dir = await tinyCopy();
  const file = join(dir, "model.safetensors");
  await Deno.truncate(file, 64 * 2 ** 30);
  // Budget: 2 × 4 bytes × 25,056 parameters + 8 + the 100,000,000-byte
  // header limit.
  await refuses(dir, [
    new RegExp(
      `^${
        file.replaceAll(".", "\\.")
      }: expected at most 100,200,456 bytes \\(the weights of 25,056 parameters, as the architecture has, at most twice over in float32, with their headers\\), received a file of 68,719,476,736 bytes$`,
    ),
  ]);
  // Shards count together.
  const sharded = await shardedCopy();
  const shard = join(sharded, "model-00002-of-00002.safetensors");
  await Deno.truncate(shard, 100_200_000);
  await refuses(sharded, [
    /model-00002-of-00002\.safetensors: expected at most 100,1\d\d,\d\d\d bytes .*received a file of 100,200,000 bytes$/,
  ]);
});

Deno.test("load: a missing folder, or a file, is named as such", async () => {
  const missing = join(await tempDirForModule("load_errors_"), "no-such-model");
  await refuses(missing, [
    new RegExp(
      `^${missing}: no such folder \\(expected a model folder with architecture\\.json or config\\.json, or a Hub name org/name\\)$`,
    ),
  ]);
  const file = join(TINY, "config.json");
  await refuses(file, [
    new RegExp(
      `^${
        file.replaceAll(".", "\\.")
      }: expected a model folder, received a file`,
    ),
  ]);
  // An empty folder still says what it lacks.
  await refuses(await tempDirForModule("load_errors_"), [
    /expected architecture\.json \(native\) or config\.json/,
  ]);
});
