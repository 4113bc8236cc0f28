import assert from "node:assert/strict";
import { byteTokenizer } from "../tokenizers.ts";
import {
  ClassStream,
  encodeFixed,
  lmBatches,
  LmStream,
  tokenStream,
} from "./batches.ts";
import { splitItems } from "./split.ts";

const tok = byteTokenizer();

Deno.test("encodeFixed: left padding keeps real tokens at the end (for last pooling in a causal scan)", () => {
  assert.deepEqual(encodeFixed(tok, "ab", { seqLen: 4 }), [0, 0, 97, 98]);
  assert.deepEqual(encodeFixed(tok, "ab", { seqLen: 4, padSide: "right" }), [
    97,
    98,
    0,
    0,
  ]);
  assert.deepEqual(encodeFixed(tok, "abcdef", { seqLen: 3 }), [97, 98, 99]);
  assert.deepEqual(
    encodeFixed(tok, "abcdef", { seqLen: 3, truncateSide: "left" }),
    [100, 101, 102],
  );
  // the last position is the last real token for every length ≤ seqLen
  for (const t of ["x", "hello", "abcdefgh"]) {
    const row = encodeFixed(tok, t, { seqLen: 8 });
    assert.equal(row[7], t.charCodeAt(t.length - 1));
  }
});

Deno.test("ClassStream: shuffled epochs, fixed shapes, resumable position", () => {
  const ex = Array.from(
    { length: 10 },
    (_, i) => ({ text: `t${i}`, label: i % 2 }),
  );
  const opts = { batchSize: 3, seqLen: 5, seed: 7 };
  const a = new ClassStream(ex, tok, opts);
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) seen.push(...a.next().ids.map((r) => String(r)));
  assert.equal(new Set(seen).size, 9); // one epoch: no repeats
  const pos = { ...a.position };
  const next = a.next();
  assert.equal(a.position.epoch, 1); // the tail of 1 was dropped
  const b = new ClassStream(ex, tok, opts);
  b.position = pos;
  assert.deepEqual(b.next(), next);
  assert.ok(next.ids.every((r) => r.length === 5));
});

Deno.test("LmStream / lmBatches: targets are inputs shifted by one; resumable", () => {
  const { ids, bytes } = tokenStream(["abcdefghij", "klmnop"], tok);
  assert.equal(bytes, 18); // 10 + "\n\n" + 6
  const s = new LmStream(ids, { batchSize: 2, seqLen: 4, seed: 1 });
  const b = s.next();
  assert.deepEqual(b.ids[0].slice(1), b.targets[0].slice(0, 3));
  const pos = s.position;
  const n1 = s.next();
  const s2 = new LmStream(ids, { batchSize: 2, seqLen: 4, seed: 99 });
  s2.position = pos;
  assert.deepEqual(s2.next(), n1);
  const all = [...lmBatches(ids, { batchSize: 3, seqLen: 4 })];
  assert.equal(all.flatMap((x) => x.ids).length, 4); // floor(17/4) windows
  assert.deepEqual(all[0].ids[1], Array.from(ids.subarray(4, 8)));
});

Deno.test("splitItems: deterministic from the seed, disjoint", () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const a = splitItems(items, { seed: 3 });
  assert.deepEqual(a, splitItems(items, { seed: 3 }));
  assert.notDeepEqual(a.train, splitItems(items, { seed: 4 }).train);
  assert.equal(a.test.length, 10);
  assert.equal(a.validation.length, 10);
  assert.equal(new Set([...a.train, ...a.validation, ...a.test]).size, 100);
});
