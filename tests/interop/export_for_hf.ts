/**
 * Interop check, part 1 (run here): writes Hugging Face folders with
 * `saveModel(…, {format: "hf"})` — the tiny fixture round-tripped, and freshly
 * initialised models with an untied head, conv/projection biases and a
 * numeric dt rank — plus this project's logits for fixed ids.
 * Part 2 (`check_hf_load.py`, on a machine with transformers) loads each
 * folder with `MambaForCausalLM.from_pretrained` and compares.
 *
 * Usage: deno run -A tests/interop/export_for_hf.ts <out dir>
 *
 * @module
 */
import { setBackend } from "../../kernels/backend.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../../dsl/builder.ts";
import { buildModel } from "../../models/model.ts";
import { loadModel, saveModel } from "../../models/io.ts";
import type { MambaModel } from "../../models/types.ts";

const out = Deno.args[0] ?? "out/interop";
await setBackend("cpu");
const models: Record<string, MambaModel> = {
  tiny_roundtrip: await loadModel(
    new URL("../fixtures/hf-mamba/tiny", import.meta.url).pathname,
  ),
  untied_biases: buildModel(
    architecture({
      name: "untied-biases",
      nodes: [
        embedding({ vocab: 96, dim: 48 }),
        repeat(3, [
          residual({
            norm: rmsNorm(1e-6),
            mixer: mamba({
              dState: 8,
              dConv: 3,
              dtRank: 5,
              bias: true,
              convBias: true,
            }),
          }),
        ]),
        rmsNorm(1e-6),
        lmHead({ tied: false }),
      ],
    }),
    { seed: 11 },
  ),
};
const ids = [[1, 7, 3, 9, 4, 2, 8, 5, 6, 0, 11, 13]];
const manifest: Record<string, { ids: number[][]; logits: number[] }> = {};
for (const [name, model] of Object.entries(models)) {
  // Perturb biases so that a dropped or misplaced bias would show.
  for (const [param, v] of model.params) {
    if (param.endsWith(".bias") || param.endsWith("D")) v.assign(v.add(0.05));
  }
  await saveModel(model, `${out}/${name}`, { format: "hf" });
  manifest[name] = { ids, logits: Array.from(await model.forward(ids).data()) };
}
await Deno.writeTextFile(`${out}/expected.json`, JSON.stringify(manifest));
console.log(`wrote ${Object.keys(models).join(", ")} to ${out}`);
