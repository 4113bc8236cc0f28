/**
 * Private test helpers: run the validator and pick out one issue.
 *
 * @module
 */
import assert from "node:assert/strict";
import { validateArchitecture } from "./builder.ts";
import { ArchitectureError, type ArchitectureIssue } from "./errors.ts";

/**
 * Validates `value`, which must fail, and returns every issue.
 * @param value an invalid architecture.
 * @returns the issues of the thrown {@linkcode ArchitectureError}.
 */
export function issuesOf(value: unknown): ArchitectureIssue[] {
  try {
    validateArchitecture(value);
  } catch (e) {
    assert.ok(e instanceof ArchitectureError, `not an ArchitectureError: ${e}`);
    assert.equal(e.message, e.issues.map((i) => i.message).join("\n"));
    return e.issues;
  }
  assert.fail("expected validation to fail, but it passed");
}

/**
 * Asserts that validating `value` fails with exactly one issue, at `path`,
 * with the given expected and received parts (and the message they make).
 * @param value an invalid architecture.
 * @param path the issue's path, e.g. `nodes[3].mixer.dState`.
 * @param expected the "expected" part.
 * @param received the "received" part.
 */
export function assertOnlyIssue(
  value: unknown,
  path: string,
  expected: string,
  received: string,
): void {
  const issues = issuesOf(value);
  assert.deepEqual(issues, [{
    path,
    expected,
    received,
    message: `${path === "" ? "(root)" : path}: expected ${expected}, ` +
      `received ${received}`,
  }]);
}

/** Default mixer fields (HF MambaConfig defaults). */
export const MIXER_DEFAULTS = {
  kind: "mamba",
  dState: 16,
  expand: 2,
  dConv: 4,
  dtRank: "auto",
  bias: false,
  convBias: true,
  dtMin: 0.001,
  dtMax: 0.1,
  dtFloor: 1e-4,
  dtScale: 1.0,
  dtInit: "random",
  scan: "auto",
};
