/**
 * Private helper of `hub.ts`: a download progress bar on stderr (redrawn at
 * most ten times a second on a terminal; one line per finished file
 * otherwise).
 *
 * Reference: huggingface_hub's tqdm bars; train/progress.ts for the format.
 *
 * @module
 */
import { formatDuration } from "../train/progress.ts";

/** Bytes as `12.3 MB`. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * One bar line.
 * @param label the file.
 * @param done bytes so far.
 * @param total bytes in all.
 * @param seconds seconds since the start.
 * @param width bar width.
 * @returns the text.
 */
export function downloadLine(
  label: string,
  done: number,
  total: number,
  seconds: number,
  width = 24,
): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? (total - done) / rate : NaN;
  const bar = "█".repeat(Math.round(frac * width)).padEnd(width, "·");
  return `${label} [${bar}] ${formatBytes(done)}/${formatBytes(total)} ${
    formatBytes(Math.round(rate))
  }/s eta ${formatDuration(eta)}`;
}

/** A bar for one file. */
export class DownloadBar {
  #start = performance.now();
  #last = 0;
  #tty: boolean;
  #encoder = new TextEncoder();

  /**
   * @param label what is downloaded (`org/name: file`).
   * @param total expected bytes.
   * @param enabled false: print nothing.
   */
  constructor(
    readonly label: string,
    readonly total: number,
    readonly enabled: boolean,
  ) {
    this.#tty = enabled && Deno.stderr.isTerminal();
  }

  /** Shows `done` bytes (throttled). */
  update(done: number): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (now - this.#last < 100 && done < this.total) return;
    this.#last = now;
    this.#write(`\r\x1b[2K${this.#line(done)}`);
  }

  /** Ends the bar with its final state. */
  finish(done: number, note = ""): void {
    if (!this.enabled) return;
    const text = this.#line(done) + note;
    this.#write(this.#tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  #line(done: number): string {
    return downloadLine(
      this.label,
      done,
      this.total,
      (performance.now() - this.#start) / 1000,
    );
  }

  #write(text: string): void {
    Deno.stderr.writeSync(this.#encoder.encode(text));
  }
}
