/**
 * Hugging Face parity on a real GPU, for the device machine (where `deno
 * test` cannot run: no npm registry there, so this is bundled with its
 * dependencies by `../shared/gpu/prepare.sh bench/parity_gpu.ts`). The same
 * checks as `tests/hf_parity_test.ts` and `infer/gpu_decoder_test.ts` make
 * on the software adapter: every fixture's logits on webgpu against the
 * float64 logits Hugging Face computed (relative error ≤ 1e-5), the same
 * for the prebuilt forward (`infer/gpu_forward.ts`), and greedy
 * generation through the GPU-resident decoder, with each launch shape,
 * against `greedy_ids` (exact).
 *
 * Usage: deno run -A bench/parity_gpu.ts [--fixtures tests/fixtures/hf-mamba/]
 *   [--out parity_gpu.json]; exits 1 when a check fails.
 *
 * @module
 */
import parser from "yargs-parser";
import { setBackend, tf } from "../kernels/backend.ts";
import "../kernels/webgpu/register.ts";
import { loadModel } from "../models/io.ts";
import { generate } from "../infer/generate.ts";
import { GpuForward } from "../infer/gpu_forward.ts";
import {
  FIXTURE_NAMES,
  PARITY_TOLERANCE,
  readExpected,
  relativeError,
} from "../tests/_util.ts";

const args = parser(Deno.args, { string: ["fixtures", "out"] });
const folder = String(args.fixtures ?? "tests/fixtures/hf-mamba/").replace(
  /\/?$/,
  "/",
);
await setBackend("webgpu");
const adapter = (tf.backend() as unknown as { adapterInfo?: unknown })
  .adapterInfo;
console.log("adapter:", JSON.stringify(adapter));

interface Check {
  fixture: string;
  what: string;
  ok: boolean;
  detail: string;
}
const checks: Check[] = [];
const report = (c: Check) => {
  checks.push(c);
  console.log(`${c.ok ? "ok  " : "FAIL"} ${c.fixture} ${c.what}: ${c.detail}`);
};

for (const fixture of FIXTURE_NAMES) {
  const expected = await readExpected(fixture, folder);
  const model = await loadModel(`${folder}${fixture}`);
  const logits = model.forward(expected.inputIds);
  const err = relativeError(
    (await logits.data()) as Float32Array,
    expected.logitsF64,
  );
  logits.dispose();
  report({
    fixture,
    what: "logits vs logits_f64",
    ok: err <= PARITY_TOLERANCE,
    detail: `relative error ${err.toExponential(2)} (≤ ${PARITY_TOLERANCE})`,
  });
  const ids = expected.inputIds;
  const fwd = new GpuForward(model, {
    batch: ids.length,
    length: ids[0].length,
  });
  const pre = fwd.forward(ids);
  const errPre = relativeError(
    (await pre.data()) as Float32Array,
    expected.logitsF64,
  );
  pre.dispose();
  fwd.dispose();
  report({
    fixture,
    what: "prebuilt forward (GpuForward) logits vs logits_f64",
    ok: errPre <= PARITY_TOLERANCE,
    detail: `relative error ${errPre.toExponential(2)} (≤ ${PARITY_TOLERANCE})`,
  });
  const prompt = expected.promptIds[0];
  const want = expected.greedyIds[0].slice(prompt.length);
  for (const gpuKernels of ["narrow", "wide"] as const) {
    const [r] = await generate(model, [prompt], {
      maxNewTokens: want.length,
      greedy: true,
      gpuDecode: true,
      gpuKernels,
    });
    const same = r.outputIds.length === want.length &&
      r.outputIds.every((t, i) => t === want[i]);
    const first = r.outputIds.findIndex((t, i) => t !== want[i]);
    report({
      fixture,
      what: `greedy ids, GPU decoder ${gpuKernels}`,
      ok: same,
      detail: same
        ? `${want.length} tokens equal`
        : `differs at token ${first}: ${r.outputIds[first]} vs ${want[first]}`,
    });
  }
  model.dispose();
}
if (args.out) {
  await Deno.writeTextFile(
    String(args.out),
    JSON.stringify(
      { date: new Date().toISOString(), adapter, checks },
      null,
      2,
    ),
  );
}
const failed = checks.filter((c) => !c.ok).length;
console.log(`${checks.length - failed} passed, ${failed} failed`);
if (failed) Deno.exit(1);
