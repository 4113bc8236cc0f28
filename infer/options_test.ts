// Generation-option errors read "field: expected …, received …", with
// "received" once (zod's own "Invalid input: expected number, received
// string" plus the value said it twice).
import assert from "node:assert/strict";
import { InferenceInputError, resolveGenerateOptions } from "./options.ts";
import type { GenerateOptions } from "./options.ts";

function messageOf(options: Record<string, unknown>): string {
  try {
    resolveGenerateOptions(options as GenerateOptions);
  } catch (e) {
    assert.ok(e instanceof InferenceInputError, String(e));
    return e.message;
  }
  assert.fail("expected the options to be refused");
}

Deno.test("options: each error says expected once and received once", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ temperature: "x" }, 'temperature: expected a number, received "x"'],
    [{ greedy: 3 }, "greedy: expected true or false, received 3"],
    [{ stop: "x" }, 'stop: expected an array, received "x"'],
    [{ seed: 1.5 }, "seed: expected an integer, received 1.5"],
    [{ topP: 2 }, "topP: expected a number <= 1, received 2"],
    [{ maxNewTokens: 0 }, "maxNewTokens: expected a number >= 1, received 0"],
  ];
  for (const [options, message] of cases) {
    const got = messageOf(options);
    assert.equal(got, message);
    assert.equal(got.match(/received/g)?.length, 1, got);
  }
});
