/**
 * Private: the JSON request bodies of the HTTP server (snake_case, as in
 * Hugging Face and OpenAI APIs), derived from `GenerateOptionsSchema` so the
 * two never disagree, and their conversion to library options; and the JSON
 * shape of a generation result.
 *
 * @module
 */
import { z } from "zod";
import type { GenerateResult } from "./generate.ts";
import { type GenerateOptions, GenerateOptionsSchema } from "./options.ts";

/** camelCase → snake_case. */
export function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

const o = GenerateOptionsSchema.shape;

/** The generation options, snake_case, all optional (defaults applied later). */
const optionShapes = {
  max_new_tokens: o.maxNewTokens.unwrap().optional(),
  greedy: o.greedy,
  temperature: o.temperature,
  top_k: o.topK,
  top_p: o.topP,
  min_p: o.minP,
  repetition_penalty: o.repetitionPenalty.unwrap().optional(),
  seed: o.seed,
  stop_token_ids: o.stopTokenIds.unwrap().optional(),
  num_beams: o.numBeams.unwrap().optional(),
  length_penalty: o.lengthPenalty.unwrap().optional(),
  early_stopping: o.earlyStopping.unwrap().optional(),
};

const ids = z.array(z.number().int());

/** POST /v1/generate body. */
export const GenerateRequestSchema = z.strictObject({
  ...optionShapes,
  /** Text to continue (needs a tokenizer). */
  prompt: z.string().min(1).optional(),
  /** Token ids to continue. */
  input_ids: ids.optional(),
  /** One stop string or several. */
  stop: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  /** Send tokens as server-sent events. */
  stream: z.boolean().default(false),
});

/** POST /v1/classify body: one or several texts, or id lists. */
export const ClassifyRequestSchema = z.strictObject({
  text: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .optional(),
  input_ids: z.union([ids, z.array(ids).min(1)]).optional(),
});

/** A validated generate request. */
export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

/**
 * @param body a validated request.
 * @returns the generation options in it (camelCase).
 */
export function requestOptions(body: GenerateRequest): GenerateOptions {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(GenerateOptionsSchema.shape)) {
    const value = (body as Record<string, unknown>)[snake(key)];
    if (value !== undefined) out[key] = value;
  }
  if (typeof body.stop === "string") out.stop = [body.stop];
  return out as GenerateOptions;
}

/**
 * @param r a generation result.
 * @returns its JSON shape (snake_case, as `/v1/generate` answers).
 */
export function presentResult(r: GenerateResult) {
  return {
    output_ids: r.outputIds,
    ...(r.text !== undefined ? { text: r.text } : {}),
    finish_reason: r.finishReason,
    seed: r.seed,
    usage: {
      prompt_tokens: r.promptIds.length,
      completion_tokens: r.outputIds.length,
      total_tokens: r.promptIds.length + r.outputIds.length,
    },
    timings: {
      queued_ms: r.timings.queuedMs,
      first_token_ms: r.timings.firstTokenMs,
      total_ms: r.timings.totalMs,
    },
    ...(r.hypotheses
      ? {
        hypotheses: r.hypotheses.map((h) => ({
          output_ids: h.outputIds,
          score: h.score,
        })),
      }
      : {}),
  };
}
