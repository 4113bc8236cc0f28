import assert from "node:assert/strict";
import {
  coerceOverrides,
  helpText,
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
    /command line: option "steps"/,
  );
  assert.throws(
    () => resolveConfig({ lr: -1 }, {}, "a.ts"),
    /a\.ts: training: option "lr"/,
  );
  const help = helpText();
  for (const key of Object.keys(TrainConfigSchema.shape)) {
    assert.match(help, new RegExp(`--${key} `));
  }
});
