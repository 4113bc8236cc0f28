/**
 * Helpers of the Mamba-2 and Falcon-Mamba integration tests: the fixture
 * folders (`fixtures/hf-mamba2/`, `fixtures/hf-falcon-mamba/`), their
 * expected tensors, greedy decoding through the library's `generate`, and a
 * model built from a fixture's weights under an edited config.
 *
 * @module
 */
import { readSafetensors } from "../models/safetensors.ts";
import { architectureFromHfConfig } from "../models/hf_config.ts";
import { buildModel, type WeightValues } from "../models/model.ts";
import { generate } from "../infer/generate.ts";
import type { MambaModel } from "../models/types.ts";

/** The folder holding `hf-mamba2/` and `hf-falcon-mamba/`. */
export const SSM_FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** A fixture's expected tensors: float data by key, ids as rows. */
export interface SsmExpected {
  /** Float tensors (`logits_f64`, `logits_official_f64`, …). */
  floats: Map<string, Float32Array>;
  /** Id tensors as rows (`input_ids`, `prompt_ids`, `greedy_ids`, …). */
  ids: Map<string, number[][]>;
}

/**
 * Reads `expected.safetensors` of a fixture.
 * @param dir e.g. `hf-mamba2/long`.
 * @returns its float tensors and id rows.
 */
export async function readSsmExpected(dir: string): Promise<SsmExpected> {
  const { tensors } = await readSafetensors(
    `${SSM_FIXTURES}${dir}/expected.safetensors`,
  );
  const floats = new Map<string, Float32Array>();
  const ids = new Map<string, number[][]>();
  for (const [key, t] of tensors) {
    if (t.data instanceof Float32Array) floats.set(key, t.data);
    else {
      const [b, l] = t.shape;
      ids.set(
        key,
        Array.from(
          { length: b },
          (_, i) => Array.from(t.data.subarray(i * l, (i + 1) * l), Number),
        ),
      );
    }
  }
  return { floats, ids };
}

/**
 * Greedy continuation through the library's `generate` (its decode engine,
 * prefill and recurrent step; on webgpu the prebuilt paths where they take
 * the model), prompt included, as HF `generate(do_sample=False)`.
 * @param model an LM-head model.
 * @param prompt the prompt ids.
 * @param total prompt + new tokens.
 * @returns the ids.
 */
export async function greedyIds(
  model: MambaModel,
  prompt: number[],
  total: number,
): Promise<number[]> {
  const [r] = await generate(model, [prompt], {
    maxNewTokens: total - prompt.length,
  });
  return [...prompt, ...r.outputIds];
}

/**
 * A model from a fixture's weights under its config with some keys changed.
 * @param dir e.g. `hf-mamba2/tiny`.
 * @param patch config keys to set.
 * @param options the Mamba-2 gated norm's semantics.
 * @returns the model and the edited config.
 */
export async function modelWithConfig(
  dir: string,
  patch: Record<string, unknown> = {},
  options: { mamba2Norm?: "official" | "transformers" } = {},
): Promise<{ model: MambaModel; config: Record<string, unknown> }> {
  const config = {
    ...JSON.parse(await Deno.readTextFile(`${SSM_FIXTURES}${dir}/config.json`)),
    ...patch,
  };
  const arch = architectureFromHfConfig(config, "config.json", options);
  const { tensors } = await readSafetensors(
    `${SSM_FIXTURES}${dir}/model.safetensors`,
  );
  const weights: WeightValues = new Map();
  for (const [name, t] of tensors) {
    weights.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  const head = arch.nodes[arch.nodes.length - 1];
  if (head.kind === "lm_head" && head.tied) weights.delete("lm_head.weight");
  return { model: buildModel(arch, { weights }), config };
}
