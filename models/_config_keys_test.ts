// Errors about a config.json are told by file and key, for both config
// formats, the size limits' included (loadModel's end of it is in
// tests/load_errors_test.ts).
import assert from "node:assert/strict";
import { architectureFromHfConfig } from "./hf_config.ts";
import { ConfigError } from "./_config_keys.ts";

const TINY = JSON.parse(
  await Deno.readTextFile(
    new URL("../tests/fixtures/hf-mamba/tiny/config.json", import.meta.url),
  ),
);

function lines(config: Record<string, unknown>, limits = {}): string[] {
  try {
    architectureFromHfConfig(config, "d/config.json", { limits });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.message, e.lines.join("\n"));
    return e.lines;
  }
  assert.fail("expected the config to be refused");
}

Deno.test("config keys: Hugging Face config errors name the key and the value in the file", () => {
  assert.deepEqual(lines({ ...TINY, layer_norm_epsilon: -1 }), [
    // One line, though the value sets two norms.
    "d/config.json: layer_norm_epsilon: expected a positive number, received -1",
  ]);
  assert.deepEqual(lines({ ...TINY, time_step_max: 1e-4 }), [
    "d/config.json: time_step_min: expected a number <= dtMax (0.0001), received 0.001",
  ]);
  // expand comes from intermediate_size: the file's value is quoted.
  assert.deepEqual(lines({ ...TINY, intermediate_size: 32 * 2 ** 27 }), [
    "d/config.json: intermediate_size: expected a size that keeps the model within 4,000,000,000 parameters (the maxParameters limit), received 4294967296, which makes 1.13e+12 parameters",
    "d/config.json: intermediate_size: expected a size that keeps every activation of one sequence within 1,073,741,824 elements (the maxActivationElements limit), received 4294967296, which makes an activation of 34,359,738,368 elements",
  ]);
  assert.deepEqual(lines(TINY, { maxParameters: 10 }), [
    "d/config.json: num_hidden_layers: expected a size that keeps the model within 10 parameters (the maxParameters limit), received 2, which makes 25,056 parameters",
  ]);
});

Deno.test("config keys: state-spaces config errors name ssm_cfg keys", () => {
  const config = { d_model: 16, n_layer: 2, vocab_size: 8 };
  assert.deepEqual(lines({ ...config, ssm_cfg: { dt_rank: -3 } }), [
    'd/config.json: ssm_cfg.dt_rank: expected "auto" or a positive integer, received -3',
  ]);
  assert.deepEqual(
    lines({ ...config, n_layer: 1e9 }).map((l) => l.slice(0, 39)),
    [
      "d/config.json: n_layer: expected a size",
      "d/config.json: n_layer: expected a size",
    ],
  );
});
