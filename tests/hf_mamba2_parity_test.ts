/**
 * Mamba-2 against Hugging Face and the official semantics, on cpu, wasm and
 * (where an adapter exists) webgpu through tfjs ops:
 * - logits ≤ 1e-5 relative to the matching float64 reference: `logits_f64`
 *   with the transformers gated norm (both fixtures) and, on `long` (2
 *   groups), `logits_official_f64` with the official one (on `tiny`, 1
 *   group, the two are the same model);
 * - greedy ids through `generate` equal `greedy_ids` / `greedy_ids_official`
 *   (on webgpu the prebuilt GPU paths decline Mamba-2 and generation falls
 *   back to the model's tfjs program: tested in `hf_mamba2_io_test.ts`);
 * - prefill + recurrent steps equal the parallel forward;
 * - the time-step limit clamps the parallel forward (against the float64
 *   oracle with that limit) and not the step, as the official code and HF.
 */
import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { generate } from "../infer/generate.ts";
import { backends, PARITY_TOLERANCE, relativeError } from "./_util.ts";
import {
  greedyIds,
  modelWithConfig,
  readSsmExpected,
  SSM_FIXTURES,
} from "./_ssm_fixtures.ts";
import { forwardF64, readFolderF64 } from "./_hf_oracle_f64.ts";
import { prefillThenStepLogits } from "./_stepped.ts";

type Norm = "official" | "transformers";
const CASES: { dir: string; norm: Norm; logits: string; greedy: string }[] = [
  {
    dir: "hf-mamba2/tiny",
    norm: "official",
    logits: "logits_f64",
    greedy: "greedy_ids",
  },
  {
    dir: "hf-mamba2/tiny",
    norm: "transformers",
    logits: "logits_f64",
    greedy: "greedy_ids",
  },
  {
    dir: "hf-mamba2/long",
    norm: "transformers",
    logits: "logits_f64",
    greedy: "greedy_ids",
  },
  {
    dir: "hf-mamba2/long",
    norm: "official",
    logits: "logits_official_f64",
    greedy: "greedy_ids_official",
  },
];

const opts = { sanitizeResources: false, sanitizeOps: false };

for (const backend of await backends()) {
  for (const c of CASES) {
    Deno.test({
      name:
        `Mamba-2 parity: ${c.dir} (${c.norm} norm) logits vs ${c.logits} on ${backend.name} ≤ ${PARITY_TOLERANCE}; greedy ids = ${c.greedy}`,
      ignore: !backend.available,
      ...opts,
    }, async () => {
      await setBackend(backend.name);
      const expected = await readSsmExpected(c.dir);
      const model = await loadModel(`${SSM_FIXTURES}${c.dir}`, {
        mamba2Norm: c.norm,
      });
      const logits = model.forward(expected.ids.get("input_ids")!);
      const err = relativeError(
        await logits.data() as Float32Array,
        expected.floats.get(c.logits)!,
      );
      logits.dispose();
      assert.ok(
        err <= PARITY_TOLERANCE,
        `relative error ${err.toExponential(2)} > ${PARITY_TOLERANCE}`,
      );
      const want = expected.ids.get(c.greedy)![0];
      const prompt = expected.ids.get("prompt_ids")![0];
      assert.deepEqual(await greedyIds(model, prompt, want.length), want);
      model.dispose();
    });
  }
}

Deno.test("Mamba-2: on long the two norms give different logits (the test can tell them apart)", async () => {
  await setBackend("cpu");
  const expected = await readSsmExpected("hf-mamba2/long");
  const model = await loadModel(`${SSM_FIXTURES}hf-mamba2/long`, {
    mamba2Norm: "official",
  });
  const ids = expected.ids.get("input_ids")!.map((r) => r.slice(0, 64));
  const ours = await model.forward(ids).data() as Float32Array;
  model.dispose();
  const v = 512;
  const head = (key: string) => expected.floats.get(key)!.subarray(0, 64 * v);
  assert.ok(relativeError(ours, head("logits_official_f64")) <= 1e-5);
  assert.ok(relativeError(ours, head("logits_f64")) > 1e-2);
});

for (const backend of await backends()) {
  Deno.test({
    name:
      `Mamba-2: prefill + recurrent steps equal the parallel forward (tiny; long's first 80 across a chunk boundary, ${backend.name}) ≤ 1e-5`,
    ignore: !backend.available,
    ...opts,
  }, async () => {
    await setBackend(backend.name);
    for (const [dir, len, split] of [["tiny", 37, 5], ["long", 80, 67]]) {
      const expected = await readSsmExpected(`hf-mamba2/${dir}`);
      const model = await loadModel(`${SSM_FIXTURES}hf-mamba2/${dir}`);
      const ids = expected.ids.get("input_ids")!.map((r) =>
        r.slice(0, len as number)
      );
      const full = await model.forward(ids).data() as Float32Array;
      // from the zero state step by step too (tiny only: 37 steps)
      for (
        const s of dir === "tiny" ? [split as number, 0] : [split as number]
      ) {
        const err = relativeError(
          await prefillThenStepLogits(model, ids, s),
          full,
        );
        assert.ok(err <= 1e-5, `${dir}, split ${s}: ${err.toExponential(2)}`);
      }
      model.dispose();
    }
  });
}

Deno.test({
  name:
    "Mamba-2 time_step_limit: clamps the parallel forward (= float64 oracle with the limit ≤ 1e-5), not the recurrent step (= oracle without it)",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const dir = "hf-mamba2/tiny";
  const limit = [0.02, 0.05]; // binds: the fixture's Δ spread past both ends
  const { model, config } = await modelWithConfig(dir, {
    time_step_limit: limit,
  });
  const folder = await readFolderF64(`${SSM_FIXTURES}${dir}`);
  const ids = (await readSsmExpected(dir)).ids.get("input_ids")!;
  const clamped = forwardF64({ ...folder, config }, ids);
  const free = forwardF64(folder, ids);
  assert.ok(relativeError(clamped.data, free.data) > 1e-3, "limit must bind");
  const parallel = await model.forward(ids).data() as Float32Array;
  const errParallel = relativeError(parallel, Float32Array.from(clamped.data));
  assert.ok(errParallel <= 1e-5, `parallel: ${errParallel.toExponential(2)}`);
  const steps = await prefillThenStepLogits(model, ids, 0);
  const errStep = relativeError(steps, Float32Array.from(free.data));
  assert.ok(errStep <= 1e-5, `step: ${errStep.toExponential(2)}`);
  model.dispose();
});

Deno.test({
  name:
    "Mamba-2: batched generation of ragged prompts gives each prompt's own greedy ids (long, transformers norm, cpu)",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const expected = await readSsmExpected("hf-mamba2/long");
  const model = await loadModel(`${SSM_FIXTURES}hf-mamba2/long`, {
    mamba2Norm: "transformers",
  });
  const prompt = expected.ids.get("prompt_ids")![0];
  const want = expected.ids.get("greedy_ids")![0];
  const [short, full, mid] = await generate(
    model,
    [prompt.slice(0, 5), prompt, prompt.slice(0, 9)],
    { maxNewTokens: want.length - prompt.length, maxBatch: 3 },
  );
  assert.deepEqual([...prompt, ...full.outputIds], want);
  assert.deepEqual(
    [...prompt.slice(0, 5), ...short.outputIds],
    await greedyIds(model, prompt.slice(0, 5), 5 + short.outputIds.length),
  );
  assert.deepEqual(
    [...prompt.slice(0, 9), ...mid.outputIds],
    await greedyIds(model, prompt.slice(0, 9), 9 + mid.outputIds.length),
  );
  model.dispose();
});
