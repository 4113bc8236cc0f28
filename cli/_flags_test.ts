import assert from "node:assert/strict";
import { closestName, FlagError, kebab, parseFlags } from "./_flags.ts";

const SPECS = {
  "max-new-tokens": { kind: "integer", min: 1 },
  temperature: { kind: "number", min: 0 },
  port: { kind: "integer", min: 0, max: 65535 },
  greedy: "boolean",
  model: "string",
  stop: "strings",
  backend: { kind: "string", choices: ["auto", "cpu"] },
  ids: "ids",
} as const;

Deno.test("kebab, camelCase and snake_case spellings are one flag", () => {
  for (const spelling of ["max-new-tokens", "maxNewTokens", "max_new_tokens"]) {
    const f = parseFlags([`--${spelling}`, "3"], SPECS);
    assert.equal(f["max-new-tokens"], 3, spelling);
    const g = parseFlags([`--${spelling}=4`], SPECS);
    assert.equal(g["max-new-tokens"], 4, spelling);
  }
  assert.equal(kebab("stopAfter"), "stop-after");
  assert.equal(kebab("seq_len"), "seq-len");
});

Deno.test("an unknown flag is refused by name, with the closest one suggested", () => {
  assert.throws(
    () => parseFlags(["--temprature", "0.5"], SPECS),
    (e: Error) =>
      e instanceof FlagError &&
      e.message ===
        "unknown flag --temprature (did you mean --temperature?)",
  );
  assert.throws(
    () => parseFlags(["--max-tokens", "3"], SPECS),
    /unknown flag --max-tokens \(did you mean --max-new-tokens\?\)/,
  );
  assert.throws(
    () => parseFlags(["--zzzzzz"], SPECS),
    /^FlagError: unknown flag --zzzzzz \(see --help\)$/,
  );
  assert.throws(() => parseFlags(["-x"], SPECS), /unknown flag -x/);
  assert.throws(
    () => parseFlags(["--no-colour"], SPECS),
    /^FlagError: unknown flag --no-colour \(see --help\)$/,
  );
  assert.throws(
    () => parseFlags(["--temperature", "-1"], SPECS),
    /--temperature: expected a number ≥ 0, received "-1"/,
  );
  assert.equal(closestName("gredy", ["greedy", "model"]), "greedy");
});

Deno.test("numbers are checked, naming the flag and what is expected", () => {
  assert.throws(
    () => parseFlags(["--port", "abc"], SPECS),
    /^FlagError: --port: expected an integer from 0 to 65535, received "abc"$/,
  );
  assert.throws(
    () => parseFlags(["--max-new-tokens", "0"], SPECS),
    /--max-new-tokens: expected an integer ≥ 1, received "0"/,
  );
  assert.throws(
    () => parseFlags(["--temperature", "1e400"], SPECS),
    /--temperature: expected a number ≥ 0/,
  );
  assert.throws(
    () => parseFlags(["--max-new-tokens"], SPECS),
    /--max-new-tokens: expected an integer ≥ 1, received nothing/,
  );
  assert.equal(parseFlags(["--port", "0"], SPECS).port, 0);
  assert.deepEqual(parseFlags(["--ids", "1, 2,30"], SPECS).ids, [1, 2, 30]);
  assert.throws(
    () => parseFlags(["--ids", "1,x"], SPECS),
    /^FlagError: --ids: expected comma-separated token ids \(integers ≥ 0\) like 1,2,3, received "1,x"$/,
  );
  assert.throws(
    () => parseFlags(["--ids", "99999999999999999999"], SPECS),
    /^FlagError: --ids: expected comma-separated token ids \(integers ≥ 0\) like 1,2,3, received "99999999999999999999"$/,
  );
  assert.throws(
    () => parseFlags(["--ids="], SPECS),
    /^FlagError: --ids: expected comma-separated token ids \(integers ≥ 0\) like 1,2,3, received nothing$/,
  );
  assert.throws(
    () => parseFlags(["--backend", "gpu"], SPECS),
    /^FlagError: --backend: expected one of auto, cpu, received "gpu"$/,
  );
  assert.equal(parseFlags(["--temperature", "0.25"], SPECS).temperature, 0.25);
});

Deno.test("booleans, repeated strings, help and positionals", () => {
  const f = parseFlags(
    ["--greedy", "--stop", "a", "--stop=b", "--model", "m", "x", "--", "--y"],
    SPECS,
    { positionals: Infinity },
  );
  assert.equal(f.greedy, true);
  assert.deepEqual(f.stop, ["a", "b"]);
  assert.equal(f.model, "m");
  assert.deepEqual(f._, ["x", "--y"]);
  assert.equal(parseFlags(["--no-greedy"], SPECS).greedy, false);
  assert.equal(parseFlags(["-h"], SPECS).help, true);
  assert.equal(parseFlags(["--help"], SPECS).help, true);
  assert.throws(
    () => parseFlags(["extra"], SPECS),
    /unexpected argument "extra" \(this command takes only flags\)/,
  );
  assert.throws(
    () => parseFlags(["--greedy=maybe"], SPECS),
    /--greedy: expected no value/,
  );
  assert.throws(
    () => parseFlags(["--model"], SPECS),
    /--model: expected a value/,
  );
});
