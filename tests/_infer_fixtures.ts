/**
 * Private test helper: the hf-mamba fixtures' prompt and greedy answer, and
 * a greedy sampling config.
 *
 * @module
 */
import { readSafetensors } from "../models/safetensors.ts";
import type { SamplingConfig } from "../infer/sampling.ts";

/** Greedy decoding with every filter off. */
export const GREEDY: SamplingConfig = {
  greedy: true,
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
};

/** Folder of a fixture. */
export const fixtureDir = (name: "tiny" | "long"): string =>
  new URL(`./fixtures/hf-mamba/${name}`, import.meta.url).pathname;

/** @returns `prompt_ids` and the generated part of `greedy_ids`. */
export async function greedyFixture(
  name: "tiny" | "long",
): Promise<{ prompt: number[]; expected: number[] }> {
  const { tensors } = await readSafetensors(
    `${fixtureDir(name)}/expected.safetensors`,
  );
  const prompt = Array.from(tensors.get("prompt_ids")!.data as Int32Array);
  const greedy = Array.from(tensors.get("greedy_ids")!.data as Int32Array);
  return { prompt, expected: greedy.slice(prompt.length) };
}
