/**
 * Private: turns zod 4 issues into {@linkcode ArchitectureIssue}s that read
 * "path: expected …, received …". Leaf schemas in `schema.ts` carry their
 * "expected" phrase as their error; {@linkcode expectedPhrase} supplies one
 * for the structural issues (wrong type of container, bounds without a
 * custom phrase); unknown keys and unknown kinds are spelled out here.
 *
 * Reference: zod 4 `core/errors.ts` (issue codes).
 *
 * @module
 */
import type { z } from "zod";
import { ArchitectureError, type ArchitectureIssue } from "./errors.ts";
import {
  ArchitectureSchema,
  ClassifierHiddenSchema,
  NODE_SCHEMAS,
} from "./schema.ts";

type RawIssue = z.core.$ZodRawIssue;

/** `a`/`an` + noun for zod's type names. */
const TYPE_PHRASES: Record<string, string> = {
  object: "an object",
  array: "an array",
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
};

/**
 * Per-parse zod error map: the "expected" phrase of issues whose schema has
 * no phrase of its own.
 * @param iss the raw zod issue.
 * @returns the phrase, or undefined to keep zod's own message.
 */
export function expectedPhrase(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      return TYPE_PHRASES[iss.expected] ?? `a value of type ${iss.expected}`;
    case "too_small":
      return iss.origin === "array"
        ? `at least ${iss.minimum} item${Number(iss.minimum) === 1 ? "" : "s"}`
        : `a ${iss.origin} ${iss.inclusive ? ">=" : ">"} ${iss.minimum}`;
    case "too_big":
      return iss.origin === "array"
        ? `at most ${iss.maximum} items`
        : `a ${iss.origin} ${iss.inclusive ? "<=" : "<"} ${iss.maximum}`;
    case "invalid_value":
      return iss.values.length === 1
        ? JSON.stringify(iss.values[0])
        : `one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return undefined;
  }
}

/**
 * Converts the issues of a failed parse.
 * @param issues `error.issues` of the failed `safeParse`.
 * @param input the value that was parsed (received values are read from it).
 * @returns one readable issue per problem; one per unknown key.
 */
export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
): ArchitectureIssue[] {
  const out: ArchitectureIssue[] = [];
  for (const iss of issues) {
    const path = iss.path;
    if (iss.code === "unrecognized_keys") {
      const known = knownKeys(path, at(input, path));
      for (const key of iss.keys) {
        const expected = known
          ? `one of the keys ${quoteAll(known)}`
          : "no unknown keys";
        out.push(
          ArchitectureError.issueText(
            [...path, key],
            expected,
            `unknown key ${JSON.stringify(key)}`,
          ),
        );
      }
    } else if (iss.code === "invalid_union" && iss.discriminator) {
      const options = ("options" in iss ? iss.options ?? [] : [])
        .map((o) => JSON.stringify(o));
      const expected = options.length === 1
        ? options[0]
        : `one of ${options.join(", ")}`;
      out.push(ArchitectureError.issue(path, expected, at(input, path)));
    } else {
      out.push(ArchitectureError.issue(path, iss.message, at(input, path)));
    }
  }
  return out;
}

/** The value at `path` inside `root`, or undefined. */
function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** The keys an object at `path` may have, when that can be told. */
function knownKeys(
  path: readonly PropertyKey[],
  obj: unknown,
): string[] | undefined {
  if (path.length === 0) return Object.keys(ArchitectureSchema.shape);
  if (path[path.length - 1] === "hidden") {
    return Object.keys(ClassifierHiddenSchema.shape);
  }
  const kind = (obj as { kind?: unknown } | undefined)?.kind;
  if (typeof kind === "string" && Object.hasOwn(NODE_SCHEMAS, kind)) {
    return Object.keys(NODE_SCHEMAS[kind as keyof typeof NODE_SCHEMAS].shape);
  }
  return undefined;
}

/** `"a", "b", "c"`. */
function quoteAll(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}
