/**
 * Streamed, shuffled batches of fixed shape (b, l).
 *
 * Texts are tokenized batch by batch (never the whole corpus as tensors) and
 * padded or truncated to the sequence length `l`; classification rows are kept
 * once encoded (`_encoded.ts`), so later epochs and evaluations reuse them.
 *
 * **Padding side matters for a causal scan.** A Mamba layer reads the sequence
 * left to right and its state at position `t` depends only on tokens `≤ t`.
 * With `"last"` pooling the classifier reads the state at the final position,
 * so padding must go on the LEFT (`padSide: "left"`, the default): the real
 * tokens then end at the last position and the state there has seen all of
 * them. Right padding would make the pooled state the state after a run of pad
 * tokens, which washes the text out of the state. `"mean"` pooling averages
 * every position, pads included (the model takes no mask); left padding keeps
 * the causal prefix of pads identical for every text of the same length, and
 * inference must pad the same way (`encodeFixed`).
 *
 * Truncation keeps the beginning of a text (`truncateSide: "right"`, default)
 * or its end (`"left"`).
 *
 * Reference: the article's Keras pipeline (`pad_sequences`), adapted.
 *
 * @module
 */
import { mixSeed, permutation, Rng, type RngState } from "../_rng.ts";
import type { TextTokenizer } from "../tokenizers.ts";
import { type EncodedExamples, encodedExamples } from "./_encoded.ts";
import type { LabeledText } from "./files.ts";

/** How texts become rows of exactly `seqLen` ids. */
export interface EncodeOptions {
  /** Sequence length l. */
  seqLen: number;
  /** Where pad ids go (default `"left"`). */
  padSide?: "left" | "right";
  /** Which end is cut when too long (default `"right"`: keep the beginning). */
  truncateSide?: "left" | "right";
}

/**
 * Encodes one text to exactly `seqLen` ids.
 * @param tokenizer the tokenizer.
 * @param text the text.
 * @param options length, padding and truncation sides.
 * @returns (l) ids.
 * @example
 * ```ts
 * encodeFixed(byteTokenizer(), "ab", { seqLen: 4 }); // [0, 0, 97, 98]
 * ```
 */
export function encodeFixed(
  tokenizer: TextTokenizer,
  text: string,
  options: EncodeOptions,
): number[] {
  return fitIds(tokenizer.encode(text), tokenizer.padId, options);
}

/**
 * Cuts or pads token ids to exactly `seqLen`, as {@linkcode encodeFixed}
 * does for training; inference on fixed-length classifiers uses it too.
 *
 * @param ids token ids of one text.
 * @param padId the tokenizer's pad id.
 * @returns `seqLen` ids.
 */
export function fitIds(
  ids: number[],
  padId: number,
  options: EncodeOptions,
): number[] {
  const l = options.seqLen;
  if (ids.length > l) {
    ids = options.truncateSide === "left"
      ? ids.slice(ids.length - l)
      : ids.slice(0, l);
  }
  const pad = new Array<number>(l - ids.length).fill(padId);
  return options.padSide === "right" ? [...ids, ...pad] : [...pad, ...ids];
}

/** One classification batch. */
export interface ClassBatch {
  /** (b, l) token ids. */
  ids: number[][];
  /** (b) class indices. */
  labels: number[];
}

/** Position in a classification stream: resumable. */
export interface ClassPosition {
  epoch: number;
  index: number;
}

/** Options of {@linkcode ClassStream}. */
export interface ClassStreamOptions extends EncodeOptions {
  /** Batch size b. */
  batchSize: number;
  /** Seed of the per-epoch shuffles. */
  seed: number;
}

/**
 * An endless stream of shuffled training batches: epoch `e` visits the
 * examples in `permutation(n, mix(seed, e))`; a short tail is dropped.
 */
export class ClassStream {
  #order: number[] = [];
  #orderEpoch = -1;
  readonly #rows: EncodedExamples;
  /** Where the next batch starts. */
  position: ClassPosition = { epoch: 0, index: 0 };

  /**
   * @param examples the training examples.
   * @param tokenizer the tokenizer.
   * @param options batch size, seed, length, sides.
   */
  constructor(
    readonly examples: LabeledText[],
    readonly tokenizer: TextTokenizer,
    readonly options: ClassStreamOptions,
  ) {
    if (examples.length < options.batchSize) {
      throw new Error(
        `data: expected at least batchSize=${options.batchSize} training examples, received ${examples.length}`,
      );
    }
    this.#rows = encodedExamples(
      examples,
      tokenizer,
      options,
      (text) => encodeFixed(tokenizer, text, options),
    );
  }

  /** @returns the next batch (b, l) and advances the position. */
  next(): ClassBatch {
    const b = this.options.batchSize;
    if (this.position.index + b > this.examples.length) {
      this.position = { epoch: this.position.epoch + 1, index: 0 };
    }
    const { epoch, index } = this.position;
    if (this.#orderEpoch !== epoch) {
      this.#order = permutation(
        this.examples.length,
        mixSeed(this.options.seed, epoch),
      );
      this.#orderEpoch = epoch;
    }
    const picked = this.#order.slice(index, index + b);
    this.position = { epoch, index: index + b };
    return {
      ids: picked.map((i) => this.#rows.row(i)),
      labels: picked.map((i) => this.examples[i].label),
    };
  }
}

/**
 * Evaluation batches in order (the last may be smaller). The fitted ids of
 * `examples` are kept after the first pass, so evaluating the same list again
 * tokenizes nothing.
 * @param examples examples.
 * @param tokenizer the tokenizer.
 * @param options batch size, length, sides.
 * @returns a generator of batches.
 */
export function* classBatches(
  examples: LabeledText[],
  tokenizer: TextTokenizer,
  options: EncodeOptions & { batchSize: number },
): Generator<ClassBatch> {
  const rows = encodedExamples(
    examples,
    tokenizer,
    options,
    (text) => encodeFixed(tokenizer, text, options),
  );
  for (let i = 0; i < examples.length; i += options.batchSize) {
    const end = Math.min(examples.length, i + options.batchSize);
    const ids: number[][] = [];
    const labels: number[] = [];
    for (let k = i; k < end; k++) {
      ids.push(rows.row(k));
      labels.push(examples[k].label);
    }
    yield { ids, labels };
  }
}

/**
 * Joins documents into one token stream (EOS between them when the tokenizer
 * has one, else a blank line).
 * @param docs documents.
 * @param tokenizer the tokenizer.
 * @returns the token ids and the UTF-8 byte count of the text they encode.
 */
export function tokenStream(
  docs: string[],
  tokenizer: TextTokenizer,
): { ids: Int32Array; bytes: number } {
  const parts: number[][] = [];
  let bytes = 0;
  const enc = new TextEncoder();
  for (const [i, doc] of docs.entries()) {
    const text = tokenizer.eosId === undefined && i > 0 ? `\n\n${doc}` : doc;
    parts.push(tokenizer.encode(text));
    bytes += enc.encode(text).length;
    if (tokenizer.eosId !== undefined) parts.push([tokenizer.eosId]);
  }
  const ids = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    ids.set(p, at);
    at += p.length;
  }
  return { ids, bytes };
}

/** One language-modelling batch: inputs and next-token targets. */
export interface LmBatch {
  /** (b, l) inputs. */
  ids: number[][];
  /** (b, l) targets: the inputs shifted left by one. */
  targets: number[][];
}

/**
 * An endless stream of random windows of `seqLen + 1` tokens; its position is
 * the state of its generator.
 */
export class LmStream {
  #rng: Rng;

  /**
   * @param tokens the training token stream.
   * @param options batch size, sequence length, seed.
   */
  constructor(
    readonly tokens: Int32Array,
    readonly options: { batchSize: number; seqLen: number; seed: number },
  ) {
    if (tokens.length < options.seqLen + 2) {
      throw new Error(
        `data: expected more than seqLen+1=${
          options.seqLen + 1
        } training tokens, received ${tokens.length}`,
      );
    }
    this.#rng = new Rng(options.seed);
  }

  /** The generator's state (the data position). */
  get position(): RngState {
    return this.#rng.state();
  }
  set position(state: RngState) {
    this.#rng = new Rng(state);
  }

  /** @returns the next batch. */
  next(): LmBatch {
    const { batchSize, seqLen } = this.options;
    const ids: number[][] = [];
    const targets: number[][] = [];
    for (let i = 0; i < batchSize; i++) {
      const start = this.#rng.int(this.tokens.length - seqLen - 1);
      const w = Array.from(this.tokens.subarray(start, start + seqLen + 1));
      ids.push(w.slice(0, seqLen));
      targets.push(w.slice(1));
    }
    return { ids, targets };
  }
}

/**
 * Held-out windows in order: non-overlapping, stride `seqLen`, at most
 * `maxWindows` of them.
 * @param tokens held-out tokens.
 * @param options batch size, sequence length, window cap.
 * @returns a generator of batches.
 */
export function* lmBatches(
  tokens: Int32Array,
  options: { batchSize: number; seqLen: number; maxWindows?: number },
): Generator<LmBatch> {
  const { batchSize, seqLen } = options;
  const total = Math.min(
    Math.floor((tokens.length - 1) / seqLen),
    options.maxWindows ?? Infinity,
  );
  for (let w = 0; w < total; w += batchSize) {
    const ids: number[][] = [];
    const targets: number[][] = [];
    for (let k = w; k < Math.min(total, w + batchSize); k++) {
      const win = Array.from(
        tokens.subarray(k * seqLen, k * seqLen + seqLen + 1),
      );
      ids.push(win.slice(0, seqLen));
      targets.push(win.slice(1));
    }
    yield { ids, targets };
  }
}
