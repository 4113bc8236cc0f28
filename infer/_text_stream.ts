/**
 * Private: incremental detokenisation with stop strings. Text is released
 * only when it is final: an incomplete UTF-8 character at the end ("\uFFFD")
 * and any tail that could still grow into a stop string are held back.
 *
 * Each token costs about the same however long the text is: the ids are
 * decoded incrementally (`_detok.ts`) and stop strings are searched for only
 * where a new match can start, from `max(stop.length) - 1` characters before
 * the first character the token changed.
 *
 * @module
 */
import type { TextTokenizer } from "../train/tokenizers.ts";
import { IncrementalDecode } from "./_detok.ts";

/** Decodes a growing list of ids into text, piece by piece. */
export class TextStream {
  readonly #decode: IncrementalDecode;
  readonly #stops: string[];
  #full = "";
  #cut: number | null = null;
  #emitted = 0;

  /**
   * @param tokenizer decodes ids.
   * @param stops stop strings (the text ends before the first one found).
   */
  constructor(tokenizer: TextTokenizer, stops: string[] = []) {
    this.#decode = new IncrementalDecode(tokenizer);
    this.#stops = stops;
  }

  /** Whether a stop string has appeared. */
  get stopped(): boolean {
    return this.#cut !== null;
  }

  /** The text so far (cut before a stop string once one appeared). */
  get text(): string {
    return this.#cut === null ? this.#full : this.#full.slice(0, this.#cut);
  }

  /**
   * @param token the next generated id.
   * @returns text that became final with it (possibly "").
   */
  push(token: number): string {
    if (this.#cut !== null) return "";
    const changed = this.#decode.push(token);
    this.#full = this.#decode.text;
    // No stop string lay in the text before this push, so a match must
    // overlap a character at or after `changed`.
    for (const stop of this.#stops) {
      const from = stop === "" ? 0 : Math.max(0, changed - stop.length + 1);
      const at = this.#full.indexOf(stop, from);
      if (at >= 0 && (this.#cut === null || at < this.#cut)) this.#cut = at;
    }
    if (this.#cut !== null) return this.flush();
    let safe = this.#full.length;
    while (safe > 0 && this.#full[safe - 1] === "\uFFFD") safe--;
    safe -= this.#heldForStop();
    return this.#release(safe);
  }

  /** @returns every not yet released character (call when generation ends). */
  flush(): string {
    return this.#release(this.text.length);
  }

  /** Length of the longest tail of the text that begins some stop string. */
  #heldForStop(): number {
    let held = 0;
    for (const stop of this.#stops) {
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
    return held;
  }

  #release(upTo: number): string {
    if (upTo <= this.#emitted) return "";
    const piece = this.#full.slice(this.#emitted, upTo);
    this.#emitted = upTo;
    return piece;
  }
}
