/**
 * The one error the DSL throws. Each issue names the field by a JS-like path
 * (`nodes[1].body[0].mixer.dtRank`), what was expected and what came.
 *
 * Reference: zod issue paths; tfjs-layers constructor checks
 * (`tfjs-layers/src/layers/normalization.ts`).
 *
 * @module
 */

/** One thing wrong with an architecture. */
export interface ArchitectureIssue {
  /** JS-like path of the field: `nodes[3].mixer.dState` ("" for the whole value). */
  path: string;
  /** What the field should have been: `a positive integer`. */
  expected: string;
  /** What came, written as a value: `-4`, `"conv"`, `undefined`. */
  received: string;
  /** The whole line: `nodes[3].mixer.dState: expected a positive integer, received -4`. */
  message: string;
}

/**
 * Thrown when an architecture fails the schema or a semantic rule. The
 * message has one line per issue.
 *
 * @example
 * ```ts
 * import { ArchitectureError } from "./errors.ts";
 * const e = new ArchitectureError([
 *   ArchitectureError.issue(["nodes", 3, "mixer", "dState"], "a positive integer", -4),
 * ]);
 * console.log(e.message); // nodes[3].mixer.dState: expected a positive integer, received -4
 * ```
 */
export class ArchitectureError extends Error {
  /** Every issue found, in the order found. */
  readonly issues: ArchitectureIssue[];

  /**
   * Creates the error; its message is one line per issue.
   * @param issues at least one issue.
   */
  constructor(issues: ArchitectureIssue[]) {
    super(issues.map((i) => i.message).join("\n"));
    this.name = "ArchitectureError";
    this.issues = issues;
  }

  /**
   * Builds one issue.
   * @param path path segments: keys and array indices.
   * @param expected what the field should have been.
   * @param received the value that came (written with {@linkcode describeValue}).
   * @returns the issue with its message line.
   */
  static issue(
    path: readonly PropertyKey[],
    expected: string,
    received: unknown,
  ): ArchitectureIssue {
    return ArchitectureError.issueText(path, expected, describeValue(received));
  }

  /**
   * Builds one issue whose "received" part is already written out.
   * @param path path segments: keys and array indices.
   * @param expected what the field should have been.
   * @param received what came, as text: `unknown key "foo"`.
   * @returns the issue with its message line.
   */
  static issueText(
    path: readonly PropertyKey[],
    expected: string,
    received: string,
  ): ArchitectureIssue {
    const p = formatPath(path);
    const where = p === "" ? "(root)" : p;
    return {
      path: p,
      expected,
      received,
      message: `${where}: expected ${expected}, received ${received}`,
    };
  }
}

/**
 * Formats path segments JS-style.
 * @param path keys and array indices, e.g. `["nodes", 1, "body", 0, "mixer"]`.
 * @returns e.g. `nodes[1].body[0].mixer`; `""` for the empty path.
 * @example
 * ```ts
 * import { formatPath } from "./errors.ts";
 * formatPath(["nodes", 3, "mixer", "dState"]); // "nodes[3].mixer.dState"
 * ```
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * Writes a received value short and unambiguous: numbers and booleans as
 * they are, strings quoted, arrays and objects abbreviated.
 * @param value anything.
 * @returns e.g. `-4`, `"conv"`, `undefined`, `an empty array`, `{"kind":"x"}`.
 * @example
 * ```ts
 * import { describeValue } from "./errors.ts";
 * describeValue("conv"); // "\"conv\""
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) {
    return value.length === 0
      ? "an empty array"
      : `an array of ${value.length} item${value.length === 1 ? "" : "s"}`;
  }
  if (typeof value === "object") {
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch {
      text = "an object";
    }
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  }
  return typeof value;
}
