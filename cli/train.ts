/**
 * `deno task train <architecture file> [--flag=value …]`: defaults → the
 * file's training options → command-line overrides (all printed at start).
 * Flags are kebab-case (`--seq-len`), camelCase accepted; an unknown flag is
 * refused by name. `--help` lists every option.
 *
 * Reference: nanoGPT `train.py` + `configurator.py`.
 *
 * @module
 */
import parser from "yargs-parser";
import { coerceOverrides, helpText } from "../train/config.ts";

if (import.meta.main) {
  const args = parser(Deno.args, {
    configuration: {
      "parse-numbers": false,
      "dot-notation": false,
      "camel-case-expansion": false,
      "boolean-negation": false,
    },
  });
  const { _: positional, help, h, ...raw } = args;
  if (help || h || positional.length !== 1) {
    console.log(helpText());
    Deno.exit(help || h ? 0 : 2);
  }
  try {
    const { runTraining } = await import("../train/run.ts");
    const result = await runTraining(
      String(positional[0]),
      coerceOverrides(raw),
    );
    Deno.exit(result.loop.reason === "non-finite" ? 1 : 0);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
