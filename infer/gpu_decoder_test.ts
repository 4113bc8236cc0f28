/**
 * The GPU-resident decoder against the float64 logits Hugging Face computed
 * (teacher-forced, one slot per prefix length), the fixtures' greedy ids, the
 * CPU sampler on the same logits and generator state, and slot removal.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { Rng } from "../models/_rng.ts";
import type { MambaModel } from "../models/types.ts";
import {
  FIXTURES,
  PARITY_TOLERANCE,
  readExpected,
  relativeError,
} from "../tests/_util.ts";
import { GREEDY, greedyFixture } from "../tests/_infer_fixtures.ts";
import { DecodeEngine } from "./engine.ts";
import { GpuDecoder, type SlotInit } from "./gpu_decoder.ts";
import { resolveGenerateOptions } from "./options.ts";
import { argmax, chooseToken, type SamplingConfig } from "./sampling.ts";

// One slot count for every test: each count compiles its own shaders, slowly
// on a software adapter.
const SLOTS = 8;
const ignore = !(await hasWebGPU());
const options = { ignore, sanitizeResources: false, sanitizeOps: false };

/** Prefills `prompt` with the tfjs forward; @returns its state and last logits. */
async function prefill(model: MambaModel, prompt: number[]) {
  const { logits, state } = model.prefill([prompt]);
  const last = await logits.slice([0, prompt.length - 1, 0], [1, 1, -1])
    .data() as Float32Array;
  logits.dispose();
  return { state, last };
}

const disposeState = (
  state: { layers: { conv: tf.Tensor; ssm: tf.Tensor }[] },
) => state.layers.forEach((l) => tf.dispose([l.conv, l.ssm]));

/**
 * Prefills `prompt` with the tfjs forward and admits it into `decoder`
 * (greedy, token 11 next, unless `init` says otherwise).
 * @returns the prompt's last logits.
 */
async function admit(
  decoder: GpuDecoder,
  model: MambaModel,
  prompt: number[],
  init: Partial<Omit<SlotInit, "state">> = {},
): Promise<Float32Array> {
  const { state, last } = await prefill(model, prompt);
  decoder.admit({
    state,
    token: 11,
    sampling: GREEDY,
    rngState: 0,
    seen: [],
    ...init,
  });
  disposeState(state);
  return last;
}

for (const kernels of ["narrow", "wide"] as const) {
  Deno.test({
    name:
      `GpuDecoder: one step per prefix length = HF logits_f64 (long, ${kernels} kernels) ≤ ${PARITY_TOLERANCE}`,
    ...options,
  }, async () => {
    await setBackend("webgpu");
    const expected = await readExpected("long");
    const model = await loadModel(`${FIXTURES}long`);
    const ids = expected.inputIds[0];
    const [, l, v] = expected.logitsShape;
    const prefixes = [1, 2, 5, 17, l - 1];
    const decoder = new GpuDecoder(model, { maxBatch: SLOTS, kernels });
    for (const p of prefixes) {
      await admit(decoder, model, ids.slice(0, p), { token: ids[p] });
    }
    const tokens = await decoder.run(1);
    const logits = await decoder.logits();
    prefixes.forEach((p, slot) => {
      const ours = logits.subarray(slot * v, (slot + 1) * v);
      const want = expected.logitsF64.subarray(p * v, (p + 1) * v);
      const err = relativeError(ours, want);
      assert.ok(
        err <= PARITY_TOLERANCE,
        `prefix ${p}: ${err.toExponential(2)}`,
      );
      assert.equal(tokens[0][slot], argmax(ours), `prefix ${p}: argmax`);
    });
    assert.ok(l > 17);
    decoder.dispose();
    model.dispose();
  });
}

for (
  const [fixture, kernels] of [
    ["tiny", "narrow"],
    ["long", "narrow"],
    ["long", "wide"],
  ] as const
) {
  Deno.test({
    name:
      `GpuDecoder: greedy ids = Hugging Face greedy_ids (${fixture}, ${kernels} kernels)`,
    ...options,
  }, async () => {
    await setBackend("webgpu");
    const { prompt, expected } = await greedyFixture(fixture);
    const model = await loadModel(`${FIXTURES}${fixture}`);
    const { state, last } = await prefill(model, prompt);
    const first = argmax(last.subarray(0, model.resolved.vocab));
    const decoder = new GpuDecoder(model, {
      maxBatch: SLOTS,
      maxSteps: 8,
      kernels,
    });
    decoder.admit({
      state,
      token: first,
      sampling: GREEDY,
      rngState: 0,
      seen: [],
    });
    disposeState(state);
    const ours = [first];
    while (ours.length < expected.length) {
      const steps = Math.min(8, expected.length - ours.length);
      for (const row of await decoder.run(steps)) ours.push(row[0]);
    }
    assert.deepEqual(ours, expected);
    decoder.dispose();
    model.dispose();
  });
}

Deno.test({
  name:
    "GpuDecoder: sampled tokens = CPU chooseToken on the same logits and seed",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}long`);
  const configs: SamplingConfig[] = [
    { ...GREEDY, greedy: false, temperature: 1.5 },
    { ...GREEDY, greedy: false, temperature: 0.7, topK: 5 },
    { ...GREEDY, greedy: false, topP: 0.6 },
    { ...GREEDY, greedy: false, temperature: 1.2, topK: 40, topP: 0.9 },
    { ...GREEDY, greedy: false, minP: 0.05 },
    { ...GREEDY, greedy: false, temperature: 0.9, repetitionPenalty: 1.3 },
    { ...GREEDY, repetitionPenalty: 1.5 },
  ];
  const decoder = new GpuDecoder(model, { maxBatch: SLOTS });
  const prompt = [5, 77, 300, 12, 9, 401];
  const contexts: number[][] = [];
  const rngs: Rng[] = [];
  for (const [i, sampling] of configs.entries()) {
    const seed = 1000 + i;
    rngs.push(new Rng(seed));
    contexts.push([...prompt, 3]);
    await admit(decoder, model, prompt, {
      token: 3,
      sampling,
      rngState: new Rng(seed).snapshot().state,
      seen: contexts[i],
    });
  }
  const v = model.resolved.paddedVocab;
  let differentFromGreedy = 0;
  for (let step = 0; step < 12; step++) {
    const [tokens] = await decoder.run(1);
    const logits = await decoder.logits();
    configs.forEach((config, slot) => {
      const row = logits.subarray(slot * v, slot * v + model.resolved.vocab);
      const want = chooseToken(row, config, contexts[slot], rngs[slot]);
      assert.equal(
        tokens[slot],
        want,
        `step ${step}, slot ${slot} (${JSON.stringify(config)})`,
      );
      if (want !== argmax(row)) differentFromGreedy++;
      contexts[slot].push(want);
    });
  }
  assert.ok(
    differentFromGreedy > 10,
    `only ${differentFromGreedy} draws differ from greedy`,
  );
  decoder.dispose();
  model.dispose();
});

Deno.test({
  name: "GpuDecoder: removing a slot leaves the others' tokens unchanged",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}long`);
  const prompts = [[1, 2, 3], [400, 20], [7, 7, 7, 7, 9]];
  const alone: number[][] = [];
  for (const prompt of prompts) {
    const decoder = new GpuDecoder(model, { maxBatch: SLOTS });
    await admit(decoder, model, prompt);
    alone.push((await decoder.run(10)).map((r) => r[0]));
    decoder.dispose();
  }
  const decoder = new GpuDecoder(model, { maxBatch: SLOTS });
  for (const prompt of prompts) await admit(decoder, model, prompt);
  const head = await decoder.run(4); // every slot: its first 4 tokens
  assert.equal(decoder.remove(0), 2); // slot 2 (prompt 2) moves to slot 0
  assert.throws(
    () => decoder.remove(2),
    /slot: expected an integer in \[0, 2\)/,
  );
  const tail = await decoder.run(6);
  assert.deepEqual(
    head.map((r) => r[1]).concat(tail.map((r) => r[1])),
    alone[1],
  );
  assert.deepEqual(
    head.map((r) => r[2]).concat(tail.map((r) => r[0])),
    alone[2],
  );
  assert.deepEqual(head.map((r) => r[0]), alone[0].slice(0, 4));
  // clear() frees every slot; a new sequence starts clean in slot 0.
  decoder.clear();
  assert.equal(decoder.active, 0);
  await admit(decoder, model, prompts[0]);
  assert.deepEqual((await decoder.run(10)).map((r) => r[0]), alone[0]);
  decoder.dispose();
  model.dispose();
});

Deno.test({
  name:
    "DecodeEngine on webgpu: GPU rounds give the tfjs step path's tokens (greedy, sampled, stops, different lengths)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}long`);
  const requests = [
    { prompt: [1, 2, 3], options: { maxNewTokens: 9 } },
    { prompt: [400, 20], options: { maxNewTokens: 3 } },
    {
      prompt: [7, 7, 7, 7, 9],
      options: { maxNewTokens: 14, temperature: 0.8, topK: 20, seed: 5 },
    },
    { prompt: [300], options: { maxNewTokens: 6, repetitionPenalty: 1.4 } },
  ];
  const decode = async (gpuDecode: boolean) => {
    const engine = new DecodeEngine(model, {
      maxBatch: 4,
      gpuDecode,
      roundTokens: 4,
    });
    const results = await Promise.all(
      requests.map((r) =>
        engine.submit(r.prompt, resolveGenerateOptions(r.options))
      ),
    );
    return results.map((r) => ({ ids: r.outputIds, reason: r.finishReason }));
  };
  const gpu = await decode(true);
  const tfjs = await decode(false);
  assert.deepEqual(gpu, tfjs);
  assert.deepEqual(gpu.map((r) => r.ids.length), [9, 3, 14, 6]);
  // A stop id ends one sequence mid-round; the others go on.
  const stopAt = gpu[0].ids[4];
  const engine = new DecodeEngine(model, { maxBatch: 4, roundTokens: 8 });
  const [stopped, other] = await Promise.all([
    engine.submit(
      [1, 2, 3],
      resolveGenerateOptions({ maxNewTokens: 9, stopTokenIds: [stopAt] }),
    ),
    engine.submit([400, 20], resolveGenerateOptions({ maxNewTokens: 3 })),
  ]);
  const firstStop = gpu[0].ids.indexOf(stopAt);
  assert.deepEqual(stopped.outputIds, gpu[0].ids.slice(0, firstStop + 1));
  assert.equal(stopped.finishReason, "stop");
  assert.deepEqual(other.outputIds, gpu[1].ids);
  model.dispose();
});
