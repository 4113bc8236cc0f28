// The shard index's checks, one rule at a time (loadModel's use of them is
// in tests/load_errors_test.ts and tests/served_index_test.ts).
import assert from "node:assert/strict";
import { checkAllFound, checkShard, parseShardIndex } from "./_shard_index.ts";

const SRC = "m/model.safetensors.index.json";

Deno.test("shard index: plain relative names are kept, in first-listed order", () => {
  const index = parseShardIndex({
    metadata: { total_size: 8 },
    weight_map: {
      a: "s-2.safetensors",
      b: "s-1.safetensors",
      c: "sub/s-2.safetensors",
      d: "s-2.safetensors",
    },
  }, SRC);
  assert.deepEqual(index.shards, [
    "s-2.safetensors",
    "s-1.safetensors",
    "sub/s-2.safetensors",
  ]);
  assert.equal(index.weightMap.get("b"), "s-1.safetensors");
});

Deno.test("shard index: names that leave the folder, on disk or as a URL, are refused", () => {
  for (
    const name of [
      "../x.safetensors",
      "a/../../x.safetensors",
      "..\\x.safetensors",
      "/etc/x.safetensors",
      "\\\\host\\x.safetensors",
      "C:x.safetensors",
      "http://example.com/x.safetensors",
      "//example.com/x.safetensors",
      "%2e%2E/x.safetensors",
      "a//x.safetensors",
      "x\0.safetensors",
    ]
  ) {
    assert.throws(
      () => parseShardIndex({ weight_map: { t: name } }, SRC),
      (e: Error) =>
        e.message ===
          `${SRC}: weight_map["t"]: expected a file inside the model folder (a relative path without ".."), received ${
            JSON.stringify(name)
          }`,
      name,
    );
  }
  // A name with dots that are not a ".." segment is fine.
  assert.deepEqual(
    parseShardIndex({ weight_map: { t: "..x/y..safetensors" } }, SRC).shards,
    ["..x/y..safetensors"],
  );
});

Deno.test("shard index: weight_map must be an object of non-empty strings", () => {
  const cases: [unknown, string][] = [
    [
      undefined,
      "weight_map: expected an object of tensor name → shard file, received undefined",
    ],
    [
      ["a"],
      "weight_map: expected an object of tensor name → shard file, received an array",
    ],
    [
      "x",
      'weight_map: expected an object of tensor name → shard file, received "x"',
    ],
    [{}, "weight_map: expected at least one tensor, received an empty object"],
    [{ t: 5 }, 'weight_map["t"]: expected a shard file name, received 5'],
    [{ t: "" }, 'weight_map["t"]: expected a shard file name, received ""'],
    [{ t: null }, 'weight_map["t"]: expected a shard file name, received null'],
  ];
  for (const [map, message] of cases) {
    assert.throws(
      () => parseShardIndex({ weight_map: map }, SRC),
      (e: Error) => e.message === `${SRC}: ${message}`,
      message,
    );
  }
});

Deno.test("shard index: each tensor in exactly the shard the index names", () => {
  const index = parseShardIndex({ weight_map: { a: "1", b: "2" } }, SRC);
  const seen = new Map<string, string>();
  checkShard(index, "1", ["a"], seen, SRC);
  assert.throws(
    () => checkShard(index, "2", ["a"], new Map(seen), SRC),
    /tensor "a": expected in one shard, received it in two, "1" and "2"$/,
  );
  assert.throws(
    () => checkShard(index, "2", ["z"], new Map(seen), SRC),
    /tensor "z": found in "2", not listed in weight_map$/,
  );
  assert.throws(
    () => checkAllFound(index, seen, SRC),
    /weight_map\["b"\]: expected "2" to hold the tensor, it does not$/,
  );
  checkShard(index, "2", ["b"], seen, SRC);
  checkAllFound(index, seen, SRC);
});
