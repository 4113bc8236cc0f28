/**
 * Private: `decode(ids)` of a growing id list without decoding the whole list
 * every token.
 *
 * The text is kept as `stable + tail`: `stable` is the decode of the ids
 * before an anchor, `tail` is what the ids after it add. The tail is read as
 * the difference between decoding a window that starts `CONTEXT` ids before
 * the anchor and decoding the window's context alone, so decoders that look
 * at neighbours (Metaspace's leading space, WordPiece's `##`, the
 * `clean_up_tokenization` spaces) see the same neighbours they see in a full
 * decode.
 *
 * The anchor moves only where the text does not end in "\uFFFD" (there the
 * UTF-8 decoder of a byte-level tokenizer is between characters, so bytes that
 * come later cannot change the text before it) and where the context decodes
 * to some non-space text (so the tail is never decoded as if it began the
 * text: Metaspace and WordPiece treat the first token apart, some decoders
 * trim). When the window's context no longer decodes to the start of the
 * window (a later id rewrote text before the anchor) the whole list is decoded
 * again and the anchor restarts there.
 *
 * For the byte tokenizer and byte-level BPE this equals `decode(ids)` exactly
 * (tested against the full decode on random id streams); the cost per token is
 * that of decoding about `3 * CONTEXT` ids. Text that ends in "\uFFFD" for a long
 * run (undecodable bytes) keeps the anchor still, and costs grow with the run.
 *
 * @module
 */
import type { TextTokenizer } from "../train/tokenizers.ts";

/** Ids of left context decoded with the tail. */
const CONTEXT = 8;
/** The anchor moves once this many ids lie after it. */
const REANCHOR = 2 * CONTEXT;

/** Decodes a growing list of ids, looking only at the last few. */
export class IncrementalDecode {
  readonly #tokenizer: TextTokenizer;
  readonly #ids: number[] = [];
  /** Ids before `#anchor` decode to `#stable`. */
  #anchor = 0;
  #stable = "";
  /** Decode of `ids[#anchor - CONTEXT .. #anchor]` (the window's context). */
  #context = "";
  /** `decode(ids)` after the last push. */
  #text = "";

  /** @param tokenizer decodes ids. */
  constructor(tokenizer: TextTokenizer) {
    this.#tokenizer = tokenizer;
  }

  /** `decode(ids)` of every id pushed so far. */
  get text(): string {
    return this.#text;
  }

  /**
   * @param token the next id.
   * @returns the index of the first character that may differ from the text
   *   before this push (everything before it is unchanged).
   */
  push(token: number): number {
    const before = this.#text;
    this.#ids.push(token);
    let same: number;
    if (this.#anchor === 0) {
      this.#text = this.#tokenizer.decode(this.#ids);
      same = 0;
    } else {
      const from = Math.max(0, this.#anchor - CONTEXT);
      const window = this.#tokenizer.decode(this.#ids.slice(from));
      if (window.startsWith(this.#context)) {
        this.#text = this.#stable + window.slice(this.#context.length);
        same = this.#stable.length;
      } else {
        this.#text = this.#tokenizer.decode(this.#ids);
        this.#anchor = 0;
        same = 0;
      }
    }
    const n = this.#ids.length;
    if (n - this.#anchor >= REANCHOR && !this.#text.endsWith("\uFFFD")) {
      const context = this.#tokenizer.decode(this.#ids.slice(n - CONTEXT));
      // A context that decodes to nothing but spaces (special tokens that are
      // skipped, say) would let the tail be decoded as the text's start.
      if (/\S/.test(context)) {
        this.#anchor = n;
        this.#stable = this.#text;
        this.#context = context;
      }
    }
    const end = Math.min(before.length, this.#text.length);
    while (same < end && before[same] === this.#text[same]) same++;
    return same;
  }
}
