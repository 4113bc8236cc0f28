/**
 * Mamba-2 and Falcon-Mamba through the program's WebGPU executor (the
 * prebuilt WGSL kernels: `kernels/webgpu/ssd.ts` bound as the `mamba2`
 * kind's `webgpuOps`, Falcon's B/C/Δ norms as the `mamba` kind's `rms_unit`):
 * - the hf-mamba2 and hf-falcon-mamba fixtures' logits ≤ 1e-5 relative to the matching float64
 *   reference (`logits_f64` with the transformers norm, `logits_official_f64`
 *   with the official one) and to model.forward;
 * - greedy ids through the executor's prefill (last position) and step
 *   programs equal the fixture's;
 * - the prefill state equals model.prefill's;
 * - a mixed stack (Mamba-1, Mamba-2 with 2 groups and a binding time-step
 *   limit, Mamba-2 with the transformers norm): forward = model.forward, and prefill + steps =
 *   model.prefill + model.step, ≤ 1e-5.
 * Runs on any WebGPU adapter (the software one here); ignored where none.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { buildModel } from "../models/model.ts";
import type { MambaModel } from "../models/types.ts";
import { lowerArchitecture } from "../models/program/lower.ts";
import { WebGpuExecutor } from "../models/program/webgpu_executor.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  mamba2,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { PARITY_TOLERANCE, relativeError } from "./_util.ts";
import { readSsmExpected, SSM_FIXTURES } from "./_ssm_fixtures.ts";

const ignore = !(await hasWebGPU());
const opts = { ignore, sanitizeResources: false, sanitizeOps: false };
const data = async (t: tf.Tensor) => await t.data() as Float32Array;

/** Argmax of each of the b rows of v floats. */
function argmaxRows(x: Float32Array, v: number): number[] {
  const out = [];
  for (let i = 0; i < x.length / v; i++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (x[i * v + j] > x[i * v + best]) best = j;
    out.push(best);
  }
  return out;
}

/** Greedy ids (prompt included) through the executor's prefill and step. */
async function greedyExecutor(
  model: MambaModel,
  prompt: number[],
  total: number,
): Promise<number[]> {
  const v = model.resolved.paddedVocab;
  const prefill = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "prefill", { lastOnly: true }),
    model.params,
    { batch: 1, length: prompt.length },
  );
  const step = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "step"),
    model.params,
    { batch: 1, length: 1 },
  );
  const ids = [...prompt];
  let { output, state } = prefill.run([prompt]);
  while (ids.length < total) {
    const next = argmaxRows(await data(output), v)[0];
    ids.push(next);
    output.dispose();
    if (ids.length === total) break;
    const r = step.run([next], state);
    tf.dispose(state.flatMap((s) => [s.conv, s.ssm]));
    ({ output, state } = r);
  }
  tf.dispose(state.flatMap((s) => [s.conv, s.ssm]));
  prefill.dispose();
  step.dispose();
  return ids;
}

const CASES = [
  {
    dir: "hf-mamba2/tiny",
    norm: "official",
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
  // Falcon-Mamba: the Mamba-1 kernels with the weightless RMS norms on B, C
  // and Δ bound as `rms_unit` (the norm option does not apply).
  {
    dir: "hf-falcon-mamba/tiny",
    norm: "official",
    logits: "logits_f64",
    greedy: "greedy_ids",
  },
] as const;

for (const c of CASES) {
  Deno.test({
    name:
      `WebGPU executor, ${c.dir} (${c.norm} norm): logits vs ${c.logits} and model.forward ≤ ${PARITY_TOLERANCE}; prefill state = model.prefill's; greedy ids through prefill + step = ${c.greedy}`,
    ...opts,
    fn: async () => {
      await setBackend("webgpu");
      const expected = await readSsmExpected(c.dir);
      const model = await loadModel(`${SSM_FIXTURES}${c.dir}`, {
        mamba2Norm: c.norm,
      });
      const ids = expected.ids.get("input_ids")!;
      const shape = { batch: ids.length, length: ids[0].length };
      const exec = new WebGpuExecutor(
        lowerArchitecture(model.resolved, "forward"),
        model.params,
        shape,
      );
      const ours = await data(exec.run(ids).output);
      exec.dispose();
      const ref = relativeError(ours, expected.floats.get(c.logits)!);
      assert.ok(ref <= PARITY_TOLERANCE, `vs ${c.logits}: ${ref}`);
      const tfjs = await data(model.forward(ids));
      const vsTfjs = relativeError(ours, tfjs);
      assert.ok(vsTfjs <= PARITY_TOLERANCE, `vs model.forward: ${vsTfjs}`);

      const prefill = new WebGpuExecutor(
        lowerArchitecture(model.resolved, "prefill"),
        model.params,
        shape,
      );
      const mine = prefill.run(ids);
      const theirs = model.prefill(ids);
      for (let i = 0; i < mine.state.length; i++) {
        for (const key of ["conv", "ssm"] as const) {
          const e = relativeError(
            await data(mine.state[i][key]),
            await data(theirs.state.layers[i][key]),
          );
          assert.ok(e <= PARITY_TOLERANCE, `layer ${i} ${key} state: ${e}`);
        }
      }
      prefill.dispose();

      const want = expected.ids.get(c.greedy)![0];
      const prompt = expected.ids.get("prompt_ids")![0];
      assert.deepEqual(
        await greedyExecutor(model, prompt, want.length),
        want,
      );
      model.dispose();
    },
  });
}

Deno.test({
  name:
    `WebGPU executor, mixed Mamba-1 / Mamba-2 (2 groups, dt limit) / Mamba-2 (transformers norm) stack: forward = model.forward, prefill + 4 steps = model.prefill + model.step ≤ ${PARITY_TOLERANCE}`,
  ...opts,
  fn: async () => {
    await setBackend("webgpu");
    const model = buildModel(
      architecture({
        name: "mixed",
        nodes: [
          embedding({ vocab: 40, dim: 32 }),
          residual({ mixer: mamba({ dState: 4 }) }),
          residual({
            mixer: mamba2({
              headDim: 8,
              groups: 2,
              dState: 8,
              chunkSize: 8,
              dtLimit: [0.01, 0.05],
            }),
          }),
          residual({
            mixer: mamba2({
              headDim: 16,
              groups: 1,
              dState: 8,
              chunkSize: 16,
              norm: "transformers",
            }),
          }),
          rmsNorm(),
          lmHead(),
        ],
      }),
      { seed: 3 },
    );
    const [b, l] = [2, 19];
    const ids = Array.from(
      { length: b },
      (_, i) => Array.from({ length: l }, (_, t) => (7 * i + 3 * t) % 40),
    );
    const exec = new WebGpuExecutor(
      lowerArchitecture(model.resolved, "forward"),
      model.params,
      { batch: b, length: l },
    );
    const e = relativeError(
      await data(exec.run(ids).output),
      await data(model.forward(ids)),
    );
    assert.ok(e <= PARITY_TOLERANCE, `forward: ${e}`);
    exec.dispose();

    const split = 15;
    const prefill = new WebGpuExecutor(
      lowerArchitecture(model.resolved, "prefill"),
      model.params,
      { batch: b, length: split },
    );
    const step = new WebGpuExecutor(
      lowerArchitecture(model.resolved, "step"),
      model.params,
      { batch: b, length: 1 },
    );
    let ours = prefill.run(ids.map((r) => r.slice(0, split))).state;
    let theirs = model.prefill(ids.map((r) => r.slice(0, split))).state;
    for (let t = split; t < l; t++) {
      const col = ids.map((r) => r[t]);
      const a = step.run(col, ours);
      const w = model.step(col, theirs);
      const err = relativeError(await data(a.output), await data(w.logits));
      assert.ok(err <= PARITY_TOLERANCE, `step ${t}: ${err}`);
      ours = a.state;
      theirs = w.state;
    }
    prefill.dispose();
    step.dispose();
    model.dispose();
  },
});
