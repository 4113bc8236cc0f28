/**
 * `generate`: prompts in, tokens out. Prefill once with the parallel forward,
 * then the O(1) recurrent step per token; prompts of different lengths are
 * each prefilled alone and decoded together (no padding), so each gives the
 * tokens it gives alone.
 *
 * Reference: Hugging Face `GenerationMixin.generate` (options and results);
 * state-spaces/mamba `utils/generation.py` (prefill then step).
 *
 * @module
 */
import type { MambaModel } from "../models/types.ts";
import type { TextTokenizer } from "../train/tokenizers.ts";
import { type BeamHypothesis, beamSearch } from "./beam.ts";
import type { DecodeKernels } from "./gpu_decoder.ts";
import {
  DecodeEngine,
  type GenerationResult,
  type TokenEvent,
} from "./engine.ts";
import {
  type GenerateOptions,
  InferenceInputError,
  type ResolvedGenerateOptions,
  resolveGenerateOptions,
} from "./options.ts";

/** Options of {@linkcode generate}: generation options plus wiring. */
export interface GenerateCallOptions extends GenerateOptions {
  /** Needed for text prompts, `text` in results and stop strings. */
  tokenizer?: TextTokenizer;
  /** Called with each prompt's index and each generated token, in order. */
  onToken?: (prompt: number, event: TokenEvent) => void;
  /** Most sequences decoded together (default: all prompts). */
  maxBatch?: number;
  /** Decode on the GPU where the model allows it (default true; see `DecodeEngine`). */
  gpuDecode?: boolean;
  /** GPU decode: most tokens per round trip (default 128; see `DecodeEngine`). */
  roundTokens?: number;
  /** GPU decode: the step's launch shapes (see `GpuDecoder`). */
  gpuKernels?: DecodeKernels;
  /** GPU decode: prefill with a prebuilt forward (default true; see `DecodeEngine`). */
  gpuPrefill?: boolean;
}

/** A generation result; beam search adds its hypotheses. */
export interface GenerateResult extends GenerationResult {
  /** Beam search only: the kept hypotheses, best first. */
  hypotheses?: BeamHypothesis[];
}

/**
 * Checks prompt ids against the vocabulary.
 *
 * @param ids the prompt.
 * @param vocab the model's vocabulary size.
 * @param field the name to report, e.g. `input_ids` or `prompts[2]`.
 * @throws InferenceInputError naming the field and the first bad id.
 */
export function checkPromptIds(
  ids: number[],
  vocab: number,
  field: string,
): void {
  if (ids.length === 0) {
    throw new InferenceInputError(
      field,
      `${field}: expected at least 1 token id, received an empty prompt`,
    );
  }
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new InferenceInputError(
        `${field}.${i}`,
        `${field}[${i}]: expected an integer id in [0, ${vocab}), received ${id}`,
      );
    }
  });
}

/**
 * Turns text or ids into checked prompt ids.
 *
 * @param prompt text (needs a tokenizer) or ids.
 * @param options the model vocabulary, the tokenizer, the field name.
 * @returns the ids.
 */
export function promptToIds(
  prompt: string | number[],
  options: { vocab: number; tokenizer?: TextTokenizer; field: string },
): number[] {
  if (typeof prompt === "string") {
    if (!options.tokenizer) {
      throw new InferenceInputError(
        options.field,
        `${options.field}: expected token ids (this model has no tokenizer), received text`,
      );
    }
    const ids = options.tokenizer.encode(prompt);
    checkPromptIds(ids, options.vocab, options.field);
    return ids;
  }
  checkPromptIds(prompt, options.vocab, options.field);
  return prompt;
}

/**
 * Generates a continuation of each prompt.
 *
 * @param model an LM-head model.
 * @param prompts texts (with a tokenizer) or token-id lists, any lengths.
 * @param options generation options, tokenizer, token callback.
 * @returns one result per prompt, in order (`outputIds` are generated tokens only).
 * @example
 * ```ts
 * import { generate } from "./generate.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const [r] = await generate(model, [[58, 50, 107]], { maxNewTokens: 12 });
 * console.log(r.outputIds);
 * ```
 */
export async function generate(
  model: MambaModel,
  prompts: (string | number[])[],
  options: GenerateCallOptions = {},
): Promise<GenerateResult[]> {
  const {
    tokenizer,
    onToken,
    maxBatch,
    gpuDecode,
    roundTokens,
    gpuKernels,
    gpuPrefill,
    ...rest
  } = options;
  const resolved = resolveGenerateOptions(rest);
  if (resolved.stop.length > 0 && !tokenizer) {
    throw new InferenceInputError(
      "stop",
      "stop: stop strings need a tokenizer (use stopTokenIds)",
    );
  }
  const vocab = model.resolved.vocab;
  const ids = prompts.map((p, i) =>
    promptToIds(p, { vocab, tokenizer, field: `prompts[${i}]` })
  );
  if (resolved.numBeams > 1) {
    const results: GenerateResult[] = [];
    for (const prompt of ids) {
      results.push(await runBeamSearch(model, prompt, resolved, tokenizer));
    }
    return results;
  }
  const engine = new DecodeEngine(model, {
    maxBatch: maxBatch ?? ids.length,
    admitPerStep: maxBatch ?? ids.length,
    tokenizer,
    gpuDecode,
    roundTokens,
    gpuKernels,
    gpuPrefill,
  });
  return await Promise.all(
    ids.map((prompt, i) =>
      engine.submit(prompt, resolved, {
        onToken: onToken && ((event) => onToken(i, event)),
      })
    ),
  );
}

/**
 * Beam search with the result in {@linkcode GenerateResult} form.
 *
 * @param model an LM-head model.
 * @param prompt checked prompt ids.
 * @param options resolved options with numBeams ≥ 1.
 * @param tokenizer decodes `text` when given.
 * @returns the best hypothesis, with all kept ones in `hypotheses`.
 */
export async function runBeamSearch(
  model: MambaModel,
  prompt: number[],
  options: ResolvedGenerateOptions,
  tokenizer?: TextTokenizer,
): Promise<GenerateResult> {
  const start = performance.now();
  const r = await beamSearch(model, prompt, options);
  const totalMs = performance.now() - start;
  return {
    promptIds: prompt,
    outputIds: r.outputIds,
    ...(tokenizer ? { text: tokenizer.decode(r.outputIds) } : {}),
    finishReason: r.finishReason,
    seed: options.seed,
    timings: { queuedMs: 0, firstTokenMs: totalMs, totalMs },
    hypotheses: r.hypotheses,
  };
}
