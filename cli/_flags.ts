/**
 * Private: the one command-line flag style of every `deno task` command.
 *
 * Flags are declared in kebab-case (`--max-new-tokens`); the camelCase and
 * snake_case spellings of a declared flag (`--maxNewTokens`,
 * `--max_new_tokens`) are the same flag. A flag that is not declared is
 * refused by name, with the closest declared one suggested; numbers are
 * checked ("--port: expected an integer from 0 to 65535, received "abc"").
 * Parsing itself is yargs-parser's.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./_flags.ts";
 * const flags = parseFlags(["--max_new_tokens", "3", "--greedy"], {
 *   "max-new-tokens": { kind: "integer", min: 1 },
 *   greedy: "boolean",
 * });
 * flags["max-new-tokens"]; // 3
 * ```
 *
 * Reference: yargs-parser 22 (configuration keys); POSIX utility conventions.
 *
 * @module
 */
import parser from "yargs-parser";

/**
 * What a flag holds: text, a switch, a number, text that may repeat, or
 * comma-separated token ids (`1,2,3`: integers ≥ 0).
 */
export type FlagKind =
  | "string"
  | "boolean"
  | "number"
  | "integer"
  | "strings"
  | "ids";

/** A flag's declaration: its kind and, for numbers, the allowed range. */
export interface FlagSpec {
  /** What the flag holds. */
  kind: FlagKind;
  /** Smallest allowed number (numbers only). */
  min?: number;
  /** Largest allowed number (numbers only). */
  max?: number;
  /** The values allowed (strings only). */
  choices?: readonly string[];
}

/** Declared flags by kebab-case name (without the dashes). */
export type FlagSpecs = Record<string, FlagKind | FlagSpec>;

type KindOf<S> = S extends FlagKind ? S
  : S extends { kind: infer K } ? K
  : never;
type ValueOf<K> = K extends "boolean" ? boolean
  : K extends "number" | "integer" ? number
  : K extends "strings" ? string[]
  : K extends "ids" ? number[]
  : string;

/** Parsed flags: each declared one that was given, `help`, and the positionals. */
export type Flags<S extends FlagSpecs> =
  & { -readonly [K in keyof S]?: ValueOf<KindOf<S[K]>> }
  & { help?: boolean; _: string[] };

/** A command line that does not fit the declared flags (exit status 2). */
export class FlagError extends Error {
  /**
   * @param message what was wrong, naming the flag.
   */
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/**
 * @param name a flag name in any of the accepted spellings.
 * @returns its kebab-case spelling (`maxNewTokens`, `max_new_tokens` → `max-new-tokens`).
 */
export function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/_/g, "-")
    .toLowerCase();
}

function distance(a: string, b: string): number {
  // Levenshtein distance, one row at a time.
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j] + 1,
        row[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * The declared name closest to a misspelled one, if any is close.
 *
 * @param name the unknown name (kebab-case).
 * @param names the declared names.
 * @returns the closest within 40% of the name's length in edits (at least 2), else undefined.
 */
export function closestName(
  name: string,
  names: Iterable<string>,
): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.round(name.length * 0.4)) + 1;
  for (const candidate of names) {
    const d = candidate.startsWith(name) || name.startsWith(candidate)
      ? Math.min(distance(name, candidate), 2)
      : distance(name, candidate);
    if (d < bestD) [best, bestD] = [candidate, d];
  }
  return best;
}

/**
 * The error for a flag that is not declared.
 *
 * @param name the flag as given, without dashes.
 * @param names the declared names (kebab-case).
 * @returns "unknown flag --temprature (did you mean --temperature?)".
 */
export function unknownFlag(name: string, names: Iterable<string>): FlagError {
  const dashes = name.length === 1 ? "-" : "--";
  const near = closestName(kebab(name), names);
  return new FlagError(
    `unknown flag ${dashes}${name}${
      near ? ` (did you mean --${near}?)` : " (see --help)"
    }`,
  );
}

const spec = (s: FlagKind | FlagSpec): FlagSpec =>
  typeof s === "string" ? { kind: s } : s;

function describeRange(s: FlagSpec): string {
  const what = s.kind === "integer" ? "an integer" : "a number";
  if (s.min !== undefined && s.max !== undefined) {
    return `${what} from ${s.min} to ${s.max}`;
  }
  if (s.min !== undefined) return `${what} ≥ ${s.min}`;
  if (s.max !== undefined) return `${what} ≤ ${s.max}`;
  return what;
}

const IDS_EXPECTED = "comma-separated token ids (integers ≥ 0) like 1,2,3";

function coerce(name: string, s: FlagSpec, raw: unknown): unknown {
  const given = Array.isArray(raw) ? raw : [raw];
  if (s.kind === "strings") {
    return given.map((v) => {
      if (typeof v !== "string" || v === "") {
        throw new FlagError(`--${name}: expected a value`);
      }
      return v;
    });
  }
  const v = given[given.length - 1]; // given twice: the last one wins
  if (s.kind === "boolean") {
    if (typeof v !== "boolean") {
      throw new FlagError(
        `--${name}: expected no value (or =true, =false), received ${
          JSON.stringify(String(v))
        }`,
      );
    }
    return v;
  }
  if (typeof v !== "string" || v === "") {
    throw new FlagError(
      `--${name}: expected ${
        s.kind === "string"
          ? "a value"
          : s.kind === "ids"
          ? IDS_EXPECTED
          : describeRange(s)
      }, received nothing`,
    );
  }
  if (s.kind === "ids") {
    const ids = v.split(",").map((x) => x.trim());
    if (!ids.every((x) => /^\d+$/.test(x) && Number.isSafeInteger(Number(x)))) {
      throw new FlagError(
        `--${name}: expected ${IDS_EXPECTED}, received ${JSON.stringify(v)}`,
      );
    }
    return ids.map(Number);
  }
  if (s.kind === "string") {
    if (s.choices && !s.choices.includes(v)) {
      throw new FlagError(
        `--${name}: expected one of ${s.choices.join(", ")}, received ${
          JSON.stringify(v)
        }`,
      );
    }
    return v;
  }
  const n = v.trim() === "" ? NaN : Number(v);
  const ok = Number.isFinite(n) &&
    (s.kind !== "integer" || Number.isInteger(n)) &&
    (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max);
  if (!ok) {
    throw new FlagError(
      `--${name}: expected ${describeRange(s)}, received ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/**
 * Parses a command line against declared flags. `--help` and `-h` are always
 * accepted; `--no-NAME` sets a boolean flag false; `--` ends the flags.
 *
 * @param args the command line (Deno.args).
 * @param specs the declared flags, kebab-case names.
 * @param options `positionals`: how many arguments that are not flags are
 *   allowed (default 0; `Infinity` for any).
 * @returns the flags given (kebab-case keys, typed by kind) and `_`, the positionals.
 * @throws FlagError naming the flag: unknown (with the closest declared
 *   name), a value of the wrong kind or range, a missing value, or too many
 *   positionals.
 */
export function parseFlags<const S extends FlagSpecs>(
  args: string[],
  specs: S,
  options: { positionals?: number } = {},
): Flags<S> {
  const declared = new Map<string, FlagSpec>(
    Object.entries(specs).map(([k, s]) => [k, spec(s)]),
  );
  declared.set("help", { kind: "boolean" });
  const names = [...declared.keys()];
  const end = args.indexOf("--");
  const flagPart = end < 0 ? args : args.slice(0, end);
  // Every spelling of a long flag becomes its kebab-case form.
  const normalized = flagPart.map((a) => {
    if (a === "-h") return "--help";
    const m = /^--([^=-][^=]*)(?:=(.*))?$/s.exec(a);
    if (!m) return a;
    const name = kebab(m[1]);
    if (
      name.startsWith("no-") && !declared.has(name) &&
      declared.get(name.slice(3))?.kind !== "boolean"
    ) throw unknownFlag(name, names);
    if (
      m[2] !== undefined && declared.get(name)?.kind === "boolean" &&
      m[2] !== "true" && m[2] !== "false"
    ) {
      throw new FlagError(
        `--${name}: expected no value (or =true, =false), received ${
          JSON.stringify(m[2])
        }`,
      );
    }
    return m[2] === undefined ? `--${name}` : `--${name}=${m[2]}`;
  });
  const kindIs = (...k: FlagKind[]) =>
    names.filter((n) => k.includes(declared.get(n)!.kind));
  const argv = parser(
    end < 0 ? normalized : [...normalized, ...args.slice(end)],
    {
      boolean: kindIs("boolean"),
      string: kindIs("string", "number", "integer", "strings", "ids"),
      configuration: {
        "camel-case-expansion": false,
        "dot-notation": false,
        "parse-numbers": false,
        "parse-positional-numbers": false,
        "boolean-negation": true,
        "duplicate-arguments-array": true,
        "flatten-duplicate-arrays": true,
        "greedy-arrays": false,
        "populate--": true,
      },
    },
  );
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(argv)) {
    if (key === "_" || key === "--") continue;
    const s = declared.get(key);
    if (!s) throw unknownFlag(key, names);
    out[key] = coerce(key, s, raw);
  }
  if (out.help === false) delete out.help;
  const positionals = [...argv._, ...(argv["--"] ?? [])].map(String);
  const allowed = options.positionals ?? 0;
  if (positionals.length > allowed && !out.help) {
    const extra = positionals[allowed];
    throw new FlagError(
      extra.startsWith("-") && extra.length > 1
        ? unknownFlag(extra.replace(/^-+/, ""), names).message
        : allowed === 0
        ? `unexpected argument ${
          JSON.stringify(extra)
        } (this command takes only flags)`
        : `unexpected argument ${
          JSON.stringify(extra)
        } (expected at most ${allowed})`,
    );
  }
  out._ = positionals;
  return out as Flags<S>;
}

/**
 * {@linkcode parseFlags} for a command's entry point: `--help` prints `help`
 * and exits 0; a bad command line prints "error: …" and the usage line (the
 * first line of `help`) to stderr and exits 2.
 *
 * @param args the command line (Deno.args).
 * @param specs the declared flags, kebab-case names.
 * @param help the command's help text, starting with its usage line.
 * @param options as for {@linkcode parseFlags}; `required`: flags that must be given.
 * @returns the parsed flags (never with `help` set).
 */
export function parseFlagsOrExit<const S extends FlagSpecs>(
  args: string[],
  specs: S,
  help: string,
  options: { positionals?: number; required?: (keyof S & string)[] } = {},
): Flags<S> {
  let flags: Flags<S>;
  try {
    flags = parseFlags(args, specs, options);
    if (!flags.help) {
      for (const name of options.required ?? []) {
        if (flags[name] === undefined) {
          throw new FlagError(`--${name} is required`);
        }
      }
    }
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`error: ${err.message}\n${help.split("\n")[0]}`);
    Deno.exit(2);
  }
  if (flags.help) {
    console.log(help);
    Deno.exit(0);
  }
  return flags;
}
