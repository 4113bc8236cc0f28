/**
 * `--mamba2-norm official|transformers` of `deno task generate`, `classify`
 * and `serve`: passed to `loadModel`'s `mamba2Norm` (hf-mamba2/long, whose
 * two norms give different greedy ids, gives each norm's fixture ids), and
 * a bad value refused by name with exit status 2.
 */
import assert from "node:assert/strict";
import { runCli } from "../cli/_run_cli.ts";
import { readSsmExpected, SSM_FIXTURES } from "./_ssm_fixtures.ts";

const LONG = `${SSM_FIXTURES}hf-mamba2/long`;
const REFUSED =
  /--mamba2-norm: expected one of official, transformers, received "bogus"/;

Deno.test("generate --mamba2-norm: each norm gives its fixture's greedy ids (official by default)", async () => {
  const expected = await readSsmExpected("hf-mamba2/long");
  const prompt = expected.ids.get("prompt_ids")![0];
  const byNorm = {
    transformers: expected.ids.get("greedy_ids")![0].slice(prompt.length),
    official: expected.ids.get("greedy_ids_official")![0].slice(
      prompt.length,
    ),
  };
  // Otherwise this test could not tell the flag was passed.
  assert.notDeepEqual(byNorm.transformers, byNorm.official);
  const run = (...extra: string[]) =>
    runCli("generate.ts", [
      "--model",
      LONG,
      "--ids",
      prompt.join(","),
      "--max-new-tokens",
      String(byNorm.official.length),
      "--backend",
      "cpu",
      "--json",
      ...extra,
    ]);
  for (const norm of ["transformers", "official"] as const) {
    const r = await run("--mamba2-norm", norm);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).output_ids, byNorm[norm], norm);
  }
  const byDefault = await run();
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.deepEqual(JSON.parse(byDefault.stdout).output_ids, byNorm.official);
});

Deno.test("generate, classify and serve refuse a bad --mamba2-norm by name", async () => {
  for (const command of ["generate.ts", "classify.ts", "serve.ts"]) {
    const r = await runCli(command, [
      "--model",
      LONG,
      ...(command === "serve.ts" ? [] : ["--ids", "1,2"]),
      "--mamba2-norm",
      "bogus",
    ]);
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, REFUSED, command);
  }
});

Deno.test("classify and serve accept --mamba2-norm (the error is then about the model, not the flag)", async () => {
  // hf-mamba2/long is an LM: classify loads it with the flag, then refuses
  // the head; serve is given a folder that does not exist.
  const c = await runCli("classify.ts", [
    "--model",
    LONG,
    "--ids",
    "1,2",
    "--backend",
    "cpu",
    "--mamba2-norm",
    "transformers",
  ]);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /expected a classifier model, received a lm_head/);
  const missing = `${SSM_FIXTURES}no-such-model`;
  const s = await runCli("serve.ts", [
    "--model",
    missing,
    "--backend",
    "cpu",
    "--mamba2-norm",
    "official",
  ]);
  assert.notEqual(s.code, 0);
  assert.notEqual(s.code, 2, s.stderr);
  assert.doesNotMatch(s.stderr, /mamba2-norm/);
  assert.match(s.stderr, /no-such-model/);
});
