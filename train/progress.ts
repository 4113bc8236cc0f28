/**
 * A progress bar with step, loss, tokens/s and ETA on a TTY; plain lines
 * (one every `every` steps) when stdout is not a terminal.
 *
 * Reference: tqdm's bar format, reduced.
 *
 * @module
 */

/** How progress is shown ("plain" and "lines" are the same). */
export type ProgressMode = "auto" | "bar" | "plain" | "lines" | "none";

/** What one update shows. */
export interface ProgressInfo {
  /** Optimizer step just done (1-based). */
  step: number;
  /** Training loss of the step. */
  loss: number;
  /** Tokens per second, averaged since the start (or resume). */
  tokensPerSec: number;
  /** Seconds spent so far. */
  elapsed: number;
}

/**
 * Formats seconds as `m:ss` or `h:mm:ss`.
 * @param s seconds.
 * @returns the text.
 */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/**
 * One progress line (bar form when `width` > 0).
 * @param info the numbers.
 * @param total total steps.
 * @param width bar width in characters (0: no bar).
 * @returns the line.
 */
export function progressLine(
  info: ProgressInfo,
  total: number,
  width = 24,
): string {
  const frac = Math.min(1, info.step / total);
  const eta = info.step > 0
    ? (info.elapsed / info.step) * (total - info.step)
    : NaN;
  const bar = width > 0
    ? `[${"█".repeat(Math.round(frac * width)).padEnd(width, "·")}] `
    : "";
  return `${bar}step ${info.step}/${total} loss ${info.loss.toFixed(4)} ${
    Math.round(info.tokensPerSec)
  } tok/s elapsed ${formatDuration(info.elapsed)} eta ${formatDuration(eta)}`;
}

/** Writes progress to stdout. */
export class Progress {
  #mode: "bar" | "lines" | "none";
  #open = false;

  /**
   * @param total total optimizer steps.
   * @param options mode (auto: bar on a TTY, else lines) and line interval.
   */
  constructor(
    readonly total: number,
    readonly options: { mode?: ProgressMode; every?: number } = {},
  ) {
    const mode = options.mode ?? "auto";
    this.#mode = mode === "auto"
      ? (Deno.stdout.isTerminal() ? "bar" : "lines")
      : mode === "plain"
      ? "lines"
      : mode;
  }

  /** Shows one step. */
  update(info: ProgressInfo): void {
    if (this.#mode === "bar") {
      const text = progressLine(info, this.total);
      Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
      this.#open = true;
    } else if (
      this.#mode === "lines" &&
      (info.step % (this.options.every ?? 10) === 0 || info.step === this.total)
    ) {
      console.log(progressLine(info, this.total, 0));
    }
  }

  /** Prints a message on its own line (below the bar). */
  log(message: string): void {
    if (this.#mode === "none") return;
    if (this.#open) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
    this.#open = false;
    console.log(message);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.#open) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
    this.#open = false;
  }
}
