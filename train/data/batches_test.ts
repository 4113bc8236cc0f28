import assert from "node:assert/strict";
import { byteTokenizer } from "../tokenizers.ts";
import type { TextTokenizer } from "../tokenizers.ts";
import { mixSeed, permutation } from "../_rng.ts";
import {
  classBatches,
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

/** The byte tokenizer, counting the texts it encodes. */
function countingTokenizer(): { tok: TextTokenizer; calls: () => number } {
  let n = 0;
  return {
    tok: {
      ...tok,
      encode: (text) => {
        n++;
        return tok.encode(text);
      },
    },
    calls: () => n,
  };
}

Deno.test("ClassStream / classBatches: each text is encoded once; rows equal encodeFixed", () => {
  const ex = Array.from(
    { length: 11 },
    (_, i) => ({ text: `text ${"é".repeat(i)} ${i}`, label: i % 3 }),
  );
  const opts = {
    batchSize: 4,
    seqLen: 9,
    seed: 5,
    truncateSide: "left" as const,
  };
  const { tok: counting, calls } = countingTokenizer();
  const s = new ClassStream(ex, counting, opts);
  // Oracle: the old stream, shuffling per epoch and encoding every row.
  const want = [];
  for (let epoch = 0; epoch < 4; epoch++) {
    const order = permutation(ex.length, mixSeed(opts.seed, epoch));
    for (let at = 0; at + 4 <= ex.length; at += 4) {
      const picked = order.slice(at, at + 4).map((i) => ex[i]);
      want.push({
        ids: picked.map((e) => encodeFixed(tok, e.text, opts)),
        labels: picked.map((e) => e.label),
      });
    }
  }
  for (const [step, batch] of want.entries()) {
    assert.deepEqual(s.next(), batch, `batch ${step}`);
  }
  assert.equal(calls(), 11); // 12 batches of 4 = 4 epochs of 8 rows
  const plain = () => ex.map((e) => encodeFixed(tok, e.text, opts));
  for (let pass = 0; pass < 3; pass++) {
    const rows = [...classBatches(ex, counting, opts)];
    assert.deepEqual(rows.flatMap((b) => b.ids), plain());
    assert.deepEqual(rows.flatMap((b) => b.labels), ex.map((e) => e.label));
    assert.equal(rows.at(-1)!.ids.length, 3);
  }
  assert.equal(calls(), 11); // kept rows, shared with the stream
  ex[2] = { text: "replaced", label: 1 };
  const again = [...classBatches(ex, counting, opts)].flatMap((b) => b.ids);
  assert.deepEqual(again, plain());
  assert.equal(calls(), 12); // only the replaced text
  [...classBatches(ex, counting, { ...opts, seqLen: 4 })];
  assert.equal(calls(), 23); // other options: a fresh encoding
  ex.push({ text: "appended later", label: 2 });
  const grown = [...classBatches(ex, counting, { ...opts, seqLen: 4 })];
  assert.deepEqual(
    grown.flatMap((b) => b.ids),
    ex.map((e) => encodeFixed(tok, e.text, { ...opts, seqLen: 4 })),
  );
  assert.equal(calls(), 24); // only the appended text (past the kept rows)
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
