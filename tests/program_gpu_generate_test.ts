/**
 * `generate` and `classifyRows` on webgpu for the models the prebuilt
 * Mamba-1 paths decline (Mamba-2, Falcon-Mamba, mixed stacks): they run
 * through the program's WebGPU executor (`infer/_program_gpu.ts`), and the
 * tests count its calls, so a switched-off path fails:
 * - hf-mamba2/tiny, hf-mamba2/long (both norms) and hf-falcon-mamba/tiny:
 *   greedy ids = the fixture's, one prefill and one step per new token after
 *   the first through the executor (and none with `gpuDecode: false`);
 * - sampling and a batch of prompts of different lengths, and a mixed
 *   Mamba-1 / Mamba-2 stack: the executor's tokens = the tfjs path's (same
 *   seeds);
 * - the server's /v1/generate (hf-mamba2/tiny): the same ids and calls;
 *   concurrent requests (batched steps) = the same requests one by one;
 * - a Mamba-2 classifier: classifyRows = model.forward per row ≤ 1e-5,
 *   one executor forward per row, and again after weights are reassigned;
 * - a Mamba-1 model stays off the executor.
 * Runs on any WebGPU adapter (the software one here); ignored where none.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { buildModel } from "../models/model.ts";
import { generate } from "../infer/generate.ts";
import { classifyRows } from "../infer/classify.ts";
import { serve } from "../infer/server.ts";
import {
  disposeProgramGpu,
  programGpuCalls,
  programGpuExecutors,
  programGpuRefusals,
  programGpuUnsupported,
} from "../infer/_program_gpu.ts";
import { PARITY_TOLERANCE, relativeError } from "./_util.ts";
import { readSsmExpected, SSM_FIXTURES } from "./_ssm_fixtures.ts";

const ignore = !(await hasWebGPU());
const opts = { ignore, sanitizeResources: false, sanitizeOps: false };

/** The executor's calls made while `fn` runs, by mode. */
async function callsDuring(
  fn: () => Promise<unknown>,
): Promise<typeof programGpuCalls> {
  const before = { ...programGpuCalls };
  await fn();
  return {
    prefill: programGpuCalls.prefill - before.prefill,
    step: programGpuCalls.step - before.step,
    forward: programGpuCalls.forward - before.forward,
  };
}

/**
 * Generates `prompts` twice: through the executor (its calls counted) and
 * with `gpuDecode: false` (the tfjs path).
 */
async function bothPaths(
  model: Parameters<typeof generate>[0],
  prompts: number[][],
  options: Parameters<typeof generate>[2],
) {
  let viaExec: number[][] = [];
  const calls = await callsDuring(async () => {
    viaExec = (await generate(model, prompts, options)).map((r) => r.outputIds);
  });
  const viaTfjs = (await generate(model, prompts, {
    ...options,
    gpuDecode: false,
  })).map((r) => r.outputIds);
  return { viaExec, viaTfjs, calls };
}

const CASES = [
  { dir: "hf-mamba2/tiny", norm: "official", greedy: "greedy_ids" },
  { dir: "hf-mamba2/long", norm: "transformers", greedy: "greedy_ids" },
  { dir: "hf-mamba2/long", norm: "official", greedy: "greedy_ids_official" },
  { dir: "hf-falcon-mamba/tiny", norm: "official", greedy: "greedy_ids" },
] as const;

for (const c of CASES) {
  Deno.test({
    name:
      `generate on webgpu, ${c.dir} (${c.norm} norm): ${c.greedy} through the executor's prefill + step programs (counted), none with gpuDecode: false; model.dispose() frees the executors`,
    ...opts,
    fn: async () => {
      await setBackend("webgpu");
      const expected = await readSsmExpected(c.dir);
      const model = await loadModel(`${SSM_FIXTURES}${c.dir}`, {
        mamba2Norm: c.norm,
      });
      const want = expected.ids.get(c.greedy)![0];
      const prompt = expected.ids.get("prompt_ids")![0];
      const newTokens = want.length - prompt.length;
      for (const gpuDecode of [true, false]) {
        let ids: number[] = [];
        const calls = await callsDuring(async () => {
          const [r] = await generate(model, [prompt], {
            maxNewTokens: newTokens,
            gpuDecode,
          });
          ids = [...prompt, ...r.outputIds];
        });
        assert.deepEqual(ids, want, `greedy ids (gpuDecode ${gpuDecode})`);
        assert.deepEqual(
          calls,
          gpuDecode
            ? { prefill: 1, step: newTokens - 1, forward: 0 }
            : { prefill: 0, step: 0, forward: 0 },
          `executor calls (gpuDecode ${gpuDecode})`,
        );
      }
      assert.equal(programGpuRefusals(model).size, 0);
      // The executors (GPU buffers bound to the weights) go with the model.
      assert.ok(programGpuExecutors(model) > 0, "executors held");
      model.dispose();
      assert.equal(programGpuExecutors(model), 0, "executors freed");
    },
  });
}

Deno.test({
  name:
    "generate on webgpu, hf-mamba2/long: sampling and a batch of 3 prompts of different lengths through the executor = the tfjs path's tokens (same seeds)",
  ...opts,
  fn: async () => {
    await setBackend("webgpu");
    const model = await loadModel(`${SSM_FIXTURES}hf-mamba2/long`);
    const prompts = [[5, 9, 2, 7], [11, 3], [1, 2, 3, 4, 5, 6, 7]];
    const options = {
      maxNewTokens: 6,
      temperature: 0.9,
      topK: 20,
      seed: 42,
    };
    const { viaExec, viaTfjs, calls } = await bothPaths(
      model,
      prompts,
      options,
    );
    assert.deepEqual(viaExec, viaTfjs);
    assert.equal(calls.prefill, 3, "one prefill per prompt");
    assert.equal(calls.step, 5, "one batched step per token after the first");
    disposeProgramGpu(model);
    model.dispose();
  },
});

Deno.test({
  name:
    `classifyRows on webgpu, Mamba-2 classifier: = model.forward per row ≤ ${PARITY_TOLERANCE}, one executor forward per row, again after weights are reassigned; a Mamba-1 LM is left to GpuForward / GpuDecoder`,
  ...opts,
  fn: async () => {
    await setBackend("webgpu");
    const model = buildModel({
      name: "m2cls",
      nodes: [
        { kind: "embedding", vocab: 30, dim: 16 },
        {
          kind: "residual",
          mixer: {
            kind: "mamba2",
            headDim: 8,
            groups: 1,
            dState: 8,
            chunkSize: 4,
          },
        },
        { kind: "rms_norm" },
        {
          kind: "classifier",
          pooling: "mean",
          classes: 3,
          activation: "softmax",
        },
      ],
    }, { seed: 5 });
    const rows = [[1, 2, 3, 4, 5], [7, 8, 9], [4, 4, 4, 4, 4]];
    const check = async (what: string) => {
      let got: number[][] = [];
      const calls = await callsDuring(async () => {
        got = await classifyRows(model, rows);
      });
      assert.deepEqual(
        calls,
        { prefill: 0, step: 0, forward: rows.length },
        what,
      );
      for (const [i, row] of rows.entries()) {
        const want = model.forward([row]);
        const e = relativeError(
          Float32Array.from(got[i]),
          await want.data() as Float32Array,
        );
        want.dispose();
        assert.ok(e <= PARITY_TOLERANCE, `${what}, row ${i}: ${e}`);
      }
    };
    await check("first call");
    // Executors built before a weight was reassigned are built anew.
    const changed = [...model.params].filter(([name]) =>
      /classifier|in_proj\.weight/.test(name)
    );
    assert.ok(changed.length >= 2, `weights to change: ${changed.length}`);
    for (const [, v] of changed) v.assign(tf.mul(v, -0.5));
    await check("after reassigning weights");
    disposeProgramGpu(model);
    model.dispose();

    const mamba1 = buildModel({
      name: "m1",
      nodes: [
        { kind: "embedding", vocab: 30, dim: 16 },
        { kind: "residual", mixer: { kind: "mamba", dState: 4 } },
        { kind: "rms_norm" },
        { kind: "lm_head" },
      ],
    }, { seed: 1 });
    assert.match(
      programGpuUnsupported(mamba1) ?? "",
      /Mamba-1 model/,
      "a Mamba-1 model stays on GpuForward / GpuDecoder",
    );
    mamba1.dispose();
  },
});

Deno.test({
  name:
    "POST /v1/generate on webgpu, hf-mamba2/tiny: the fixture's greedy ids through the executor (counted); 4 concurrent requests = the same requests one by one",
  ...opts,
  fn: async () => {
    await setBackend("webgpu");
    const expected = await readSsmExpected("hf-mamba2/tiny");
    const model = await loadModel(`${SSM_FIXTURES}hf-mamba2/tiny`);
    const want = expected.ids.get("greedy_ids")![0];
    const prompt = expected.ids.get("prompt_ids")![0];
    const newTokens = want.length - prompt.length;
    const server = serve({ model, port: 0 });
    const post = async (body: unknown) => {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/generate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const json = await res.json();
      assert.equal(res.status, 200, JSON.stringify(json));
      return json.output_ids as number[];
    };
    try {
      let ids: number[] = [];
      const calls = await callsDuring(async () => {
        ids = await post({ input_ids: prompt, max_new_tokens: newTokens });
      });
      assert.deepEqual([...prompt, ...ids], want);
      assert.deepEqual(calls, {
        prefill: 1,
        step: newTokens - 1,
        forward: 0,
      });
      const bodies = [0, 1, 2, 3].map((i) => ({
        input_ids: prompt.slice(0, 2 + i),
        max_new_tokens: 3 + i,
        ...(i % 2 ? { temperature: 0.8, top_k: 10, seed: i } : {}),
      }));
      const oneByOne: number[][] = [];
      for (const b of bodies) oneByOne.push(await post(b));
      const together = await callsDuring(async () => {
        assert.deepEqual(await Promise.all(bodies.map(post)), oneByOne);
      });
      assert.equal(together.prefill, bodies.length);
      assert.ok(together.step > 0, "batched steps through the executor");
    } finally {
      await server.shutdown();
      disposeProgramGpu(model);
      model.dispose();
    }
  },
});

Deno.test({
  name:
    "generate on webgpu, mixed Mamba-1 / Mamba-2 (2 groups) / Mamba-2 (transformers norm) stack: through the executor (counted) = the tfjs path's greedy and sampled tokens",
  ...opts,
  fn: async () => {
    await setBackend("webgpu");
    const model = buildModel({
      name: "mixed",
      nodes: [
        { kind: "embedding", vocab: 40, dim: 32 },
        { kind: "residual", mixer: { kind: "mamba", dState: 4 } },
        {
          kind: "residual",
          mixer: {
            kind: "mamba2",
            headDim: 8,
            groups: 2,
            dState: 8,
            chunkSize: 8,
          },
        },
        {
          kind: "residual",
          mixer: {
            kind: "mamba2",
            headDim: 16,
            groups: 1,
            dState: 8,
            chunkSize: 16,
            norm: "transformers",
          },
        },
        { kind: "rms_norm" },
        { kind: "lm_head" },
      ],
    }, { seed: 3 });
    const prompts = [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], [2, 7]];
    for (const sampling of [{}, { temperature: 1.1, seed: 7 }]) {
      const options = { maxNewTokens: 5, ...sampling };
      const { viaExec, viaTfjs, calls } = await bothPaths(
        model,
        prompts,
        options,
      );
      assert.deepEqual(viaExec, viaTfjs, JSON.stringify(sampling));
      assert.deepEqual(calls, { prefill: 2, step: 4, forward: 0 });
    }
    disposeProgramGpu(model);
    model.dispose();
  },
});
