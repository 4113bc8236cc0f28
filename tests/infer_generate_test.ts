import assert from "node:assert/strict";
import { setBackend, type tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { generate } from "../infer/generate.ts";
import { fixtureDir, greedyFixture } from "./_infer_fixtures.ts";

await setBackend("cpu");

Deno.test("greedy generation equals Hugging Face's greedy_ids (tiny, long)", async () => {
  for (const name of ["tiny", "long"] as const) {
    const model = await loadModel(fixtureDir(name));
    const { prompt, expected } = await greedyFixture(name);
    const [r] = await generate(model, [prompt], {
      maxNewTokens: expected.length,
    });
    assert.deepEqual(r.outputIds, expected, name);
    model.dispose();
  }
});

Deno.test("recurrent decode equals re-running the prefix with the parallel forward (tiny)", async () => {
  const model = await loadModel(fixtureDir("tiny"));
  const prompt = [5, 17, 200, 3];
  const seq = [...prompt];
  for (let i = 0; i < 8; i++) {
    const logits = model.forward([seq]) as tf.Tensor3D; // (1, l, v)
    const row = await logits.slice([0, seq.length - 1, 0], [1, 1, -1]).data();
    logits.dispose();
    seq.push(row.indexOf(Math.max(...row)));
  }
  const [r] = await generate(model, [prompt], { maxNewTokens: 8 });
  assert.deepEqual(r.outputIds, seq.slice(prompt.length));
  model.dispose();
});

Deno.test("batched prompts of different lengths each give the tokens they give alone (tiny)", async () => {
  const model = await loadModel(fixtureDir("tiny"));
  const prompts = [[58, 50, 107, 157, 193], [9], [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
  ], [
    250,
    0,
  ]];
  for (
    const options of [
      { maxNewTokens: 10 },
      { maxNewTokens: 10, temperature: 0.8, topP: 0.95, seed: 4 },
    ]
  ) {
    const alone = [];
    for (const p of prompts) {
      alone.push((await generate(model, [p], options))[0].outputIds);
    }
    const together = await generate(model, prompts, options);
    assert.deepEqual(together.map((r) => r.outputIds), alone);
  }
  model.dispose();
});

Deno.test("beam search (4 beams, 2 tokens) equals the best pair over the 4 best first tokens (tiny)", async () => {
  // Oracle: without stop ids, 4 beams keep the 4 best first tokens, and the
  // second step picks the best of those 4 × every second token: exactly the
  // best pair over that set, computed here by re-running the prefix.
  const model = await loadModel(fixtureDir("tiny"));
  const prompt = [58, 50, 107];
  const logSoftmax = (x: Float32Array) => {
    const m = Math.max(...x);
    const z = Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
    return Array.from(x, (v) => v - z);
  };
  const first = model.forward([prompt]) as tf.Tensor3D;
  const lp1 = logSoftmax(
    await first.slice([0, 2, 0], [1, 1, -1]).data() as Float32Array,
  );
  first.dispose();
  const top = lp1.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 4);
  let best = { ids: [0, 0], lp: -Infinity };
  for (const [v1, a] of top) {
    const l = model.forward([[...prompt, a]]) as tf.Tensor3D;
    const lp2 = logSoftmax(
      await l.slice([0, 3, 0], [1, 1, -1]).data() as Float32Array,
    );
    l.dispose();
    lp2.forEach((v2, b) => {
      if (v1 + v2 > best.lp) best = { ids: [a, b], lp: v1 + v2 };
    });
  }
  const [r] = await generate(model, [prompt], { maxNewTokens: 2, numBeams: 4 });
  assert.deepEqual(r.outputIds, best.ids);
  assert.ok(Math.abs(r.hypotheses![0].logProb - best.lp) < 1e-4);
  model.dispose();
});
