/**
 * Private test helper: runs a `cli/` command as a fresh process.
 *
 * @module
 */

/** What a command printed and how it ended. */
export interface CliRun {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * @param command the file in `cli/` (e.g. "generate.ts").
 * @param args its arguments.
 * @returns its exit status and output (killed after 120 s).
 */
export async function runCli(command: string, args: string[]): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(command, import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}
