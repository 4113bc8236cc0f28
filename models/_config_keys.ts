/**
 * Private: errors about an architecture built from a Hugging Face
 * `config.json`, told in the file's own terms. The DSL names a field by its
 * path (`nodes[1].body[0].norm.eps`); a reader of `config.json` needs the
 * key (`layer_norm_epsilon`) and the value they wrote. Each config format
 * gives a table from DSL paths to its keys; {@linkcode buildFromConfig}
 * turns every {@linkcode ArchitectureError} issue into a line
 * `config.json: key: expected …, received …`.
 *
 * @module
 */
import { ArchitectureError, describeValue } from "../dsl/errors.ts";
import type { Architecture } from "../dsl/schema.ts";

/** DSL path (as `formatPath` writes it) → the config key it came from. */
export type ConfigKeys = Readonly<Record<string, string>>;

/**
 * Thrown for a `config.json` that does not describe a valid model; the
 * message has one line per issue, each naming the file and the key.
 */
export class ConfigError extends Error {
  /**
   * @param lines one `file: key: expected …, received …` line per issue.
   */
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
    this.name = "ConfigError";
  }
}

/**
 * Runs `build`, and rewrites an {@linkcode ArchitectureError} it throws in
 * terms of the config's keys.
 * @param source the config file, for messages.
 * @param config the parsed config.
 * @param keys where each DSL field came from.
 * @param build makes the architecture (validating it).
 * @returns what `build` returns.
 * @throws {ConfigError} naming the file and key of each issue.
 */
export function buildFromConfig(
  source: string,
  config: Record<string, unknown>,
  keys: ConfigKeys,
  build: () => Architecture,
): Architecture {
  try {
    return build();
  } catch (e) {
    if (!(e instanceof ArchitectureError)) throw e;
    const lines = e.issues.map((issue) => {
      const key = keys[issue.path];
      if (key === undefined) {
        return `${source}: (the architecture it describes) ${issue.message}`;
      }
      return `${source}: ${key}: expected ${issue.expected}, received ${
        received(issue.received, valueAt(config, key))
      }`;
    });
    throw new ConfigError([...new Set(lines)]);
  }
}

/**
 * The "received" text with the config's value in front: the DSL writes the
 * value it saw (for `expand`, derived from `intermediate_size`), then maybe
 * `, which makes …`; the value becomes the one in the file.
 */
function received(text: string, raw: unknown): string {
  if (raw === undefined) return text;
  const comma = text.indexOf(", which makes ");
  const rest = comma < 0 ? "" : text.slice(comma);
  return `${describeValue(raw)}${rest}`;
}

/** `config[key]`, where a key `a.b` looks inside `config.a`. */
function valueAt(config: Record<string, unknown>, key: string): unknown {
  let v: unknown = config;
  for (const part of key.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}
