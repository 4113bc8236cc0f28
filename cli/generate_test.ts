import assert from "node:assert/strict";
import { greedyFixture } from "../tests/_infer_fixtures.ts";
import { runCli } from "./_run_cli.ts";

const TINY = new URL("../tests/fixtures/hf-mamba/tiny", import.meta.url)
  .pathname;

Deno.test("--max_new_tokens and --maxNewTokens are --max-new-tokens", async () => {
  const { prompt, expected } = await greedyFixture("tiny");
  for (const [flag, n] of [["--max_new_tokens", 3], ["--maxNewTokens", 2]]) {
    const r = await runCli("generate.ts", [
      "--model",
      TINY,
      "--ids",
      prompt.join(","),
      String(flag),
      String(n),
      "--backend",
      "cpu",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    // Greedy by default: Hugging Face's greedy ids of the fixture.
    assert.deepEqual(JSON.parse(r.stdout).output_ids, expected.slice(0, +n));
  }
});

Deno.test("a misspelled flag is refused, naming the closest one", async () => {
  const r = await runCli("generate.ts", [
    "--model",
    TINY,
    "--ids",
    "1,2",
    "--temprature",
    "0.5",
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^error: unknown flag --temprature \(did you mean --temperature\?\)\nusage: deno task generate/,
  );
  const bad = await runCli("generate.ts", [
    "--model",
    TINY,
    "--ids",
    "1",
    "--top-p",
    "2",
  ]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--top-p: expected a number from 0 to 1, received "2"/,
  );
});

Deno.test("--prompt on a folder without a tokenizer suggests --ids", async () => {
  const r = await runCli("generate.ts", [
    "--model",
    TINY,
    "--prompt",
    "hello",
    "--backend",
    "cpu",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no tokenizer .*pass token ids with --ids 1,2,3/);
});
