/**
 * Falcon-Mamba (the Mamba-1 mixer with weightless RMS norms on B, C and Δ's
 * input, `bcdtRmsEps` = HF `mixer_rms_eps`) against Hugging Face, on cpu,
 * wasm and (where an adapter exists) webgpu through tfjs ops: logits ≤ 1e-5
 * relative to `logits_f64`, greedy ids through `generate` equal
 * `greedy_ids`, prefill + recurrent steps equal the parallel forward, and
 * the same weights read as plain Mamba (no norms) are far off — so the
 * norms are what makes the match.
 */
import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { backends, PARITY_TOLERANCE, relativeError } from "./_util.ts";
import {
  greedyIds,
  modelWithConfig,
  readSsmExpected,
  SSM_FIXTURES,
} from "./_ssm_fixtures.ts";
import { prefillThenStepLogits } from "./_stepped.ts";

const DIR = "hf-falcon-mamba/tiny";
const opts = { sanitizeResources: false, sanitizeOps: false };

for (const backend of await backends()) {
  Deno.test({
    name:
      `Falcon-Mamba parity: tiny logits vs logits_f64 on ${backend.name} ≤ ${PARITY_TOLERANCE}; greedy ids = greedy_ids; steps = forward`,
    ignore: !backend.available,
    ...opts,
  }, async () => {
    await setBackend(backend.name);
    const expected = await readSsmExpected(DIR);
    const model = await loadModel(`${SSM_FIXTURES}${DIR}`);
    const layer = model.resolved.layers[0].mixer;
    assert.equal(layer.kind === "mamba" && layer.bcdtRmsEps, 1e-6);
    const ids = expected.ids.get("input_ids")!; // (2, 23)
    const logits = model.forward(ids);
    const full = await logits.data() as Float32Array;
    logits.dispose();
    const err = relativeError(full, expected.floats.get("logits_f64")!);
    assert.ok(
      err <= PARITY_TOLERANCE,
      `relative error ${err.toExponential(2)}`,
    );

    const want = expected.ids.get("greedy_ids")![0];
    const prompt = expected.ids.get("prompt_ids")![0];
    assert.deepEqual(await greedyIds(model, prompt, want.length), want);

    // prefill the first 6 tokens, then one recurrent step per token
    const stepped = await prefillThenStepLogits(model, ids, 6);
    const errStep = relativeError(stepped, full);
    assert.ok(errStep <= 1e-5, `step vs forward: ${errStep.toExponential(2)}`);
    model.dispose();
  });
}

Deno.test({
  name: "Falcon-Mamba: the same weights as plain Mamba are far off (> 1e-2)",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const expected = await readSsmExpected(DIR);
  const { model } = await modelWithConfig(DIR, { model_type: "mamba" });
  const layer = model.resolved.layers[0].mixer;
  assert.equal(layer.kind === "mamba" && layer.bcdtRmsEps, undefined);
  const logits = await model.forward(expected.ids.get("input_ids")!).data();
  const err = relativeError(
    logits as Float32Array,
    expected.floats.get("logits_f64")!,
  );
  assert.ok(err > 1e-2, `plain Mamba only ${err.toExponential(2)} off`);
  model.dispose();
});
