import assert from "node:assert/strict";
import {
  coerceOverrides,
  helpText,
  kebab,
  resolveConfig,
  TrainConfigSchema,
} from "./config.ts";

Deno.test("config: defaults → file → command line, typed", () => {
  const c = resolveConfig(
    { lr: 0.01, steps: 5 },
    coerceOverrides({ steps: "20", hf: "false", resume: "true" }),
    "a.ts",
  );
  assert.equal(c.lr, 0.01);
  assert.equal(c.steps, 20);
  assert.equal(c.hf, false);
  assert.equal(c.resume, true);
  assert.equal(c.backend, "wasm");
  assert.equal(
    resolveConfig(undefined, coerceOverrides({ resume: "out/x" }), "a.ts")
      .resume,
    "out/x",
  );
});

Deno.test("config: errors name the source and the option; help lists every option", () => {
  assert.throws(
    () => coerceOverrides({ stepz: "1" }),
    /command line: option "--stepz": unknown/,
  );
  assert.throws(
    () => resolveConfig({}, coerceOverrides({ steps: "abc" }), "a.ts"),
    /command line: option "--steps": expected a number, received "abc"$/,
  );
  assert.throws(
    () => resolveConfig({ lr: -1 }, {}, "a.ts"),
    /a\.ts: training: option "lr"/,
  );
  const help = helpText();
  for (const key of Object.keys(TrainConfigSchema.shape)) {
    assert.match(help, new RegExp(`--${kebab(key)} `));
  }
});

Deno.test("config: kebab-case flags, camelCase accepted, misspellings and repeats refused by name", () => {
  assert.deepEqual(
    coerceOverrides({
      "seq-len": "128",
      "stop-after": "3",
      evalEvery: "5",
      "early-stop": "val_accuracy",
    }),
    { seqLen: 128, stopAfter: 3, evalEvery: 5, earlyStop: "val_accuracy" },
  );
  assert.throws(
    () => coerceOverrides({ "max_new_tokens": "3" }),
    /option "--max_new_tokens": unknown; expected one of .*--seq-len/,
  );
  assert.throws(
    () => coerceOverrides({ "seq-Len": "3" }),
    /option "--seq-Len": unknown/,
  );
  assert.throws(
    () => coerceOverrides({ "seq-len": "3", seqLen: "4" }),
    /option "--seqLen": given twice \(also as --seq-len\)/,
  );
  assert.throws(
    () => coerceOverrides({ steps: ["3", "4"] }),
    /option "--steps": given 2 times; expected once/,
  );
  assert.throws(
    () => resolveConfig({}, coerceOverrides({ "eval-every": "0" }), "a.ts"),
    /command line: option "--eval-every"/,
  );
  const help = helpText();
  assert.match(help, /--seq-len /);
  assert.doesNotMatch(help, /--seqLen /);
});

Deno.test("config: --progress=plain (offered by --help) is accepted; --hf is auto, true or false", () => {
  const help = helpText();
  assert.match(help, /plain/);
  assert.equal(
    resolveConfig({}, coerceOverrides({ progress: "plain" }), "a.ts").progress,
    "plain",
  );
  assert.equal(resolveConfig({}, {}, "a.ts").hf, "auto");
  assert.equal(
    resolveConfig({}, coerceOverrides({ hf: "true" }), "a.ts").hf,
    true,
  );
  assert.throws(
    () => resolveConfig({}, coerceOverrides({ hf: "maybe" }), "a.ts"),
    /command line: option "--hf"/,
  );
  assert.match(help, /fixes seqLen .*accepts only that value/);
});

Deno.test("config: --epochs; --steps and --epochs in one layer are refused; the later layer wins", () => {
  assert.equal(
    resolveConfig({}, coerceOverrides({ epochs: "10" }), "a.ts").epochs,
    10,
  );
  assert.throws(
    () =>
      resolveConfig({}, coerceOverrides({ epochs: "2", steps: "5" }), "a.ts"),
    /command line: options "steps" and "epochs": expected one of them, received both/,
  );
  assert.throws(
    () => resolveConfig({ epochs: 2, steps: 5 }, {}, "a.ts"),
    /a\.ts: training: options "steps" and "epochs"/,
  );
  // The file says 330 steps; --epochs on the command line replaces them.
  const c = resolveConfig(
    { steps: 330 },
    coerceOverrides({ epochs: "1" }),
    "a.ts",
  );
  assert.equal(c.epochs, 1);
  // The file says 10 epochs; --steps on the command line replaces them.
  assert.equal(
    resolveConfig({ epochs: 10 }, coerceOverrides({ steps: "20" }), "a.ts")
      .epochs,
    0,
  );
});
