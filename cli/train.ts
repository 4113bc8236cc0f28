/**
 * `deno task train <architecture file> [--key=value …]`: defaults → the
 * file's training options → command-line overrides (all printed at start).
 * `--help` lists every option.
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
  const { _: positional, help, ...raw } = args;
  if (help || positional.length !== 1) {
    console.log(helpText());
    Deno.exit(help ? 0 : 2);
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
