/**
 * `deno task train <architecture file> [--flag=value …]`: defaults → the
 * file's training options → command-line overrides (all printed at start).
 * Flags are kebab-case (`--seq-len`), parsed by the same `cli/_flags.ts` as
 * every command: the camelCase and snake_case spellings are the same flag, an
 * unknown flag is refused by name with the closest one suggested. `--help`
 * lists every option.
 *
 * Reference: nanoGPT `train.py` + `configurator.py`.
 *
 * @module
 */
import {
  type FlagSpecs,
  kebab as flagName,
  parseFlagsOrExit,
} from "./_flags.ts";
import {
  coerceOverrides,
  helpText,
  kebab,
  TrainConfigSchema,
} from "../train/config.ts";

/** Flags that may stand alone (`--resume` = `--resume=true`). */
const SWITCHES = new Set(["resume", "hf"]);

/**
 * The declared flags: every option of the schema, kebab-case; values stay
 * text here and are typed and checked by the schema.
 * @returns the flag specs for `parseFlags`.
 */
export function trainFlagSpecs(): FlagSpecs {
  return Object.fromEntries(
    Object.keys(TrainConfigSchema.shape).map((k) => [kebab(k), "string"]),
  );
}

/**
 * Gives a lone switch (`--resume`, `--hf`) its value `true`, so that it does
 * not take the next flag as its value.
 * @param args the command line.
 * @returns the command line with `--resume` written `--resume=true`.
 */
export function normalizeSwitches(args: string[]): string[] {
  return args.map((a, i) => {
    const m = /^--([^=]+)$/.exec(a);
    if (!m || !SWITCHES.has(flagName(m[1]))) return a;
    const next = args[i + 1];
    return next === undefined || next.startsWith("-") ? `${a}=true` : a;
  });
}

if (import.meta.main) {
  const flags = parseFlagsOrExit(
    normalizeSwitches(Deno.args),
    trainFlagSpecs(),
    helpText(),
    { positionals: 1 },
  );
  const { _: positional, ...raw } = flags;
  if (positional.length !== 1) {
    console.error(
      `error: expected an architecture file\n${helpText().split("\n")[0]}`,
    );
    Deno.exit(2);
  }
  try {
    const { runTraining } = await import("../train/run.ts");
    const result = await runTraining(positional[0], coerceOverrides(raw));
    Deno.exit(result.loop.reason === "non-finite" ? 1 : 0);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
