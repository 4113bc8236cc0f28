/**
 * TextStream against the first algorithm, kept here as the oracle: decode
 * every id so far and search the whole text for every stop string, every
 * token. Random id streams for the byte tokenizer and for Hugging Face
 * tokenizers (byte-level BPE with clean-up, Metaspace, WordLevel), and a long
 * generation that must stay linear in decode work.
 */
import assert from "node:assert/strict";
import {
  byteTokenizer,
  loadHfTokenizer,
  specialAddedToken,
  type TextTokenizer,
} from "../train/tokenizers.ts";
import { Rng } from "../train/_rng.ts";
import { TextStream } from "./_text_stream.ts";

/** The quadratic original: full decode and full stop search per token. */
class OracleStream {
  #ids: number[] = [];
  #full = "";
  #cut: number | null = null;
  #emitted = 0;
  constructor(readonly tok: TextTokenizer, readonly stops: string[]) {}
  get stopped() {
    return this.#cut !== null;
  }
  get text() {
    return this.#cut === null ? this.#full : this.#full.slice(0, this.#cut);
  }
  push(token: number): string {
    if (this.#cut !== null) return "";
    this.#ids.push(token);
    this.#full = this.tok.decode(this.#ids);
    for (const stop of this.stops) {
      const at = this.#full.indexOf(stop);
      if (at >= 0 && (this.#cut === null || at < this.#cut)) this.#cut = at;
    }
    if (this.#cut !== null) return this.flush();
    let safe = this.#full.length;
    while (safe > 0 && this.#full[safe - 1] === "\uFFFD") safe--;
    let held = 0;
    for (const stop of this.stops) {
      for (
        let n = Math.min(stop.length - 1, this.#full.length);
        n > held;
        n--
      ) {
        if (this.#full.endsWith(stop.slice(0, n))) {
          held = n;
          break;
        }
      }
    }
    return this.#release(safe - held);
  }
  flush(): string {
    return this.#release(this.text.length);
  }
  #release(upTo: number): string {
    if (upTo <= this.#emitted) return "";
    const piece = this.#full.slice(this.#emitted, upTo);
    this.#emitted = upTo;
    return piece;
  }
}

/** Runs both streams over `ids`; asserts every piece and the end state. */
function agree(tok: TextTokenizer, stops: string[], ids: number[]): void {
  const fast = new TextStream(tok, stops);
  const slow = new OracleStream(tok, stops);
  for (const [i, id] of ids.entries()) {
    const want = slow.push(id);
    assert.equal(fast.push(id), want, `piece at id ${i} of ${ids}`);
    assert.equal(fast.stopped, slow.stopped, `stopped at id ${i}`);
  }
  assert.equal(fast.text, slow.text);
  assert.equal(fast.flush(), slow.flush());
}

const rng = new Rng(1234);
const pick = <T>(xs: T[]): T => xs[Math.floor(rng.next() * xs.length)];

Deno.test("byte tokenizer: random byte streams give what the full decode gives", () => {
  const tok = byteTokenizer();
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  // Pieces that split characters, invalid and truncated UTF-8, stop parts.
  const parts = [
    ...["a", "b", " ", "E", "N", "D", "x", "\n"].map(enc),
    enc("é"),
    enc("€"),
    enc("😀"),
    [0xc3],
    [0xa9],
    [0xe2, 0x82],
    [0xf0, 0x9f],
    [0x98, 0x80],
    [0xff],
    [0xe0, 0x80],
    [0xed, 0xa0, 0x80],
  ];
  const stopSets = [[], ["END"], ["ab", "é\n"], ["\uFFFD"], ["€x", "b b"]];
  for (let trial = 0; trial < 300; trial++) {
    const ids: number[] = [];
    const n = 1 + Math.floor(rng.next() * 120);
    while (ids.length < n) ids.push(...pick(parts));
    agree(tok, pick(stopSets), ids);
  }
});

/** GPT-2's byte-to-character table, as byte-level BPE vocabularies use it. */
function byteChars(): string[] {
  const keep = (b: number) =>
    (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
  const out: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    out.push(String.fromCodePoint(keep(b) ? b : next++));
  }
  return out;
}

/** A byte-level BPE tokenizer.json (GPT-NeoX style) with a few merges. */
function byteLevelJson() {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, b) => vocab[c] = b);
  const merged = (s: string) =>
    [...new TextEncoder().encode(s)].map((b) => chars[b]).join("");
  const words = [" the", " .", " '", " n't", " 's", "é", "😀", " ,", "ab"];
  words.forEach((w, i) => vocab[merged(w)] = 256 + i);
  vocab["<|endoftext|>"] = 256 + words.length;
  return {
    version: "1.0",
    added_tokens: [specialAddedToken(256 + words.length, "<|endoftext|>")],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false },
    post_processor: null,
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges: [] },
  };
}

/** A Metaspace (SentencePiece style) tokenizer.json. */
function metaspaceJson() {
  const pieces = ["<unk>", "</s>", "▁a", "▁b", "c", "▁", ".", "▁the", "d"];
  const vocab: Record<string, number> = {};
  pieces.forEach((p, i) => vocab[p] = i);
  return {
    version: "1.0",
    added_tokens: [specialAddedToken(1, "</s>")],
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "▁" },
    post_processor: null,
    decoder: { type: "Metaspace", replacement: "▁" },
    model: { type: "BPE", vocab, merges: [], unk_token: "<unk>" },
  };
}

/** A WordLevel tokenizer.json without a decoder (ids joined by spaces). */
function wordLevelJson() {
  return {
    version: "1.0",
    added_tokens: [specialAddedToken(0, "[PAD]")],
    normalizer: null,
    pre_tokenizer: { type: "Whitespace" },
    post_processor: null,
    decoder: null,
    model: {
      type: "WordLevel",
      vocab: { "[PAD]": 0, "[UNK]": 1, hello: 2, world: 3, ".": 4, "'s": 5 },
      unk_token: "[UNK]",
    },
  };
}

async function hfTokenizer(json: unknown): Promise<TextTokenizer> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(json));
  const tok = await loadHfTokenizer(dir);
  await Deno.remove(dir, { recursive: true });
  return tok;
}

Deno.test("HF tokenizers: random id streams give what the full decode gives", async () => {
  const cases: [string, unknown, string[][]][] = [
    ["byte-level BPE", byteLevelJson(), [[], ["the."], ["n't", "\uFFFD"]]],
    ["Metaspace", metaspaceJson(), [[], ["a b"], ["c."]]],
    ["WordLevel", wordLevelJson(), [[], ["world."], ["hello hello"]]],
  ];
  for (const [name, json, stopSets] of cases) {
    const tok = await hfTokenizer(json);
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(rng.next() * 80);
      const ids = Array.from(
        { length: n },
        // Mostly ordinary text ids, some special ones (skipped in decoding).
        () => Math.floor(rng.next() * tok.vocabSize),
      );
      try {
        agree(tok, pick(stopSets), ids);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
  }
});

Deno.test("Metaspace: a long run of skipped special tokens does not drop the next space", async () => {
  const tok = await hfTokenizer(metaspaceJson());
  // "▁a" x16, "</s>" x20 (skipped when decoding), "▁b" x3: the text is
  // "a a … a b b b"; a tail decoded after only "</s>" would lose the space.
  const ids = [...Array(16).fill(2), ...Array(20).fill(1), 3, 3, 3];
  agree(tok, [], ids);
  agree(tok, ["a b"], ids);
});

Deno.test("a long generation with stop strings costs linear decode work", () => {
  const bytes = byteTokenizer();
  let decodedIds = 0;
  const counting: TextTokenizer = {
    ...bytes,
    decode: (ids) => {
      decodedIds += ids.length;
      return bytes.decode(ids);
    },
  };
  const text = "the quick brown fox jumps over the lazy dog, né 😀 ".repeat(
    100,
  );
  const ids = bytes.encode(text + "STOP here");
  const s = new TextStream(counting, ["STOP", "never appears"]);
  let out = "";
  for (const id of ids) out += s.push(id);
  out += s.flush();
  assert.equal(s.stopped, true);
  assert.equal(out, text);
  // The old algorithm decoded n(n+1)/2 ids (about 14 million here).
  const n = ids.length;
  assert.ok(n > 5000, `expected a long stream, got ${n} ids`);
  assert.ok(decodedIds <= 40 * n, `decoded ${decodedIds} ids for ${n} tokens`);
});
