/**
 * Hugging Face parity: every fixture's logits against the float64 logits
 * Hugging Face computed (relative error ≤ 1e-5), on cpu, wasm and webgpu;
 * recurrent step equals the parallel forward; greedy decoding reproduces
 * `greedy_ids` exactly.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import { argmax } from "../infer/sampling.ts";
import { loadModel } from "../models/io.ts";
import {
  backends,
  FIXTURE_NAMES,
  FIXTURES,
  PARITY_TOLERANCE,
  readExpected,
  relativeError,
} from "./_util.ts";
import { prefillThenStepLogits } from "./_stepped.ts";

for (const backend of await backends()) {
  for (const fixture of FIXTURE_NAMES) {
    Deno.test({
      name:
        `HF parity: ${fixture} logits vs logits_f64 on ${backend.name} ≤ ${PARITY_TOLERANCE}`,
      ignore: !backend.available,
      sanitizeResources: false,
      sanitizeOps: false,
    }, async () => {
      await setBackend(backend.name);
      const expected = await readExpected(fixture);
      const model = await loadModel(`${FIXTURES}${fixture}`);
      const logits = model.forward(expected.inputIds);
      assert.deepEqual(logits.shape, expected.logitsShape);
      const ours = await logits.data();
      const err = relativeError(ours as Float32Array, expected.logitsF64);
      assert.ok(
        err <= PARITY_TOLERANCE,
        `relative error ${err.toExponential(2)} > ${PARITY_TOLERANCE}`,
      );
      // The float32 HF run is a second witness: we should be as close to it.
      const errF32 = relativeError(ours as Float32Array, expected.logits);
      assert.ok(
        errF32 <= PARITY_TOLERANCE,
        `vs HF float32: ${errF32.toExponential(2)}`,
      );
      logits.dispose();
      model.dispose();
    });
  }
}

for (const backend of await backends()) {
  Deno.test({
    name:
      `recurrent step equals the parallel forward (tiny, ${backend.name}) ≤ 1e-5`,
    ignore: !backend.available,
    sanitizeResources: false,
    sanitizeOps: false,
  }, async () => {
    await setBackend(backend.name);
    const expected = await readExpected("tiny");
    const model = await loadModel(`${FIXTURES}tiny`);
    const ids = expected.inputIds; // (2, 17)
    const full = await model.forward(ids).data();
    // Prefill the first 5 tokens in parallel, then step through the rest.
    const stepped = await prefillThenStepLogits(model, ids, 5);
    const [b, l, v] = [ids.length, ids[0].length, model.resolved.paddedVocab];
    const err = relativeError(stepped, full as Float32Array);
    assert.ok(err <= 1e-5, `step vs forward: ${err.toExponential(2)}`);
    // From the zero state, step by step from the first token.
    let s = model.initialState(b);
    const first = new Float32Array(b * v);
    for (let t = 0; t < 3; t++) {
      const out = model.step(ids.map((r) => r[t]), s);
      tf.dispose(s);
      s = out.state;
      if (t === 2) first.set(await out.logits.data());
      out.logits.dispose();
    }
    tf.dispose(s);
    const expect3 = new Float32Array(b * v);
    for (let i = 0; i < b; i++) {
      expect3.set(
        (full as Float32Array).subarray((i * l + 2) * v, (i * l + 3) * v),
        i * v,
      );
    }
    assert.ok(relativeError(first, expect3) <= 1e-5);
    model.dispose();
  });
}

/** Greedy decoding with prefill + recurrent steps, as `model.generate(do_sample=False)`. */
async function greedy(
  fixture: string,
): Promise<{ ours: number[]; expected: number[] }> {
  const expected = await readExpected(fixture);
  const model = await loadModel(`${FIXTURES}${fixture}`);
  const prompt = expected.promptIds[0];
  const total = expected.greedyIds[0].length;
  const ids = [...prompt];
  const pre = model.prefill([prompt]);
  const v = model.resolved.paddedVocab;
  const last = (await pre.logits.data()).subarray(
    (prompt.length - 1) * v,
    prompt.length * v,
  );
  pre.logits.dispose();
  let next = argmax(last);
  let state = pre.state;
  while (ids.length < total) {
    ids.push(next);
    if (ids.length === total) break;
    const out = model.step([next], state);
    tf.dispose(state);
    state = out.state;
    next = argmax(await out.logits.data());
    out.logits.dispose();
  }
  tf.dispose(state);
  model.dispose();
  return { ours: ids, expected: expected.greedyIds[0] };
}

for (const backend of await backends()) {
  for (const fixture of FIXTURE_NAMES) {
    Deno.test({
      name:
        `greedy decoding reproduces greedy_ids exactly (${fixture}, ${backend.name})`,
      ignore: !backend.available,
      sanitizeResources: false,
      sanitizeOps: false,
    }, async () => {
      await setBackend(backend.name);
      const { ours, expected } = await greedy(fixture);
      assert.deepEqual(ours, expected);
    });
  }
}
