/**
 * Private: fitted token ids of labelled texts, encoded once and kept.
 *
 * Training visits every example once per epoch and evaluation walks the same
 * validation examples at every evaluation; tokenizing the texts each time
 * costs more than the ids take to keep. Rows are encoded on first use into one
 * (n, l) Int32Array, so memory is `4 · n · l` bytes at most, and the rows
 * past {@linkcode MAX_CACHED_IDS} ids are encoded on every use instead.
 *
 * @module
 */
import type { TextTokenizer } from "../tokenizers.ts";
import type { EncodeOptions } from "./batches.ts";
import type { LabeledText } from "./files.ts";

/** Most ids kept per example list (512 MiB of int32). */
export const MAX_CACHED_IDS = 1 << 27;

/** Fitted ids of a list of examples, each encoded on first use. */
export class EncodedExamples {
  readonly #rows: Int32Array;
  /** The text each kept row was encoded from (undefined: not yet encoded). */
  readonly #from: (string | undefined)[];

  /**
   * @param examples the examples (read on each access, so a replaced text
   *   is encoded again).
   * @param tokenizer the tokenizer.
   * @param options length, padding and truncation sides.
   * @param encode text to exactly `seqLen` ids (`encodeFixed`).
   */
  constructor(
    readonly examples: LabeledText[],
    readonly tokenizer: TextTokenizer,
    readonly options: EncodeOptions,
    readonly encode: (text: string) => number[],
  ) {
    const kept = Math.min(
      examples.length,
      Math.floor(MAX_CACHED_IDS / options.seqLen),
    );
    this.#rows = new Int32Array(kept * options.seqLen); // (kept, l)
    this.#from = new Array(kept);
  }

  /** Whether these rows were made with this tokenizer and these options. */
  matches(tokenizer: TextTokenizer, options: EncodeOptions): boolean {
    return this.tokenizer === tokenizer &&
      this.options.seqLen === options.seqLen &&
      this.options.padSide === options.padSide &&
      this.options.truncateSide === options.truncateSide;
  }

  /**
   * @param i example index.
   * @returns its (l) ids, as `encodeFixed` gives them.
   */
  row(i: number): number[] {
    const text = this.examples[i].text;
    if (i >= this.#from.length) return this.encode(text);
    const l = this.options.seqLen;
    if (this.#from[i] !== text) {
      this.#rows.set(this.encode(text), i * l);
      this.#from[i] = text;
    }
    return Array.from(this.#rows.subarray(i * l, (i + 1) * l));
  }
}

const byList = new WeakMap<LabeledText[], EncodedExamples>();

/**
 * The kept rows of an example list, made on the first call (and again when the
 * tokenizer or the encoding options change). Examples appended to the list
 * later lie past the kept rows and are encoded on every use.
 */
export function encodedExamples(
  examples: LabeledText[],
  tokenizer: TextTokenizer,
  options: EncodeOptions,
  encode: (text: string) => number[],
): EncodedExamples {
  let rows = byList.get(examples);
  if (rows === undefined || !rows.matches(tokenizer, options)) {
    const { seqLen, padSide, truncateSide } = options;
    rows = new EncodedExamples(examples, tokenizer, {
      seqLen,
      padSide,
      truncateSide,
    }, encode);
    byList.set(examples, rows);
  }
  return rows;
}
