/**
 * Generation options: one zod schema shared by the library, the CLI and the
 * server, defaults filled in one place, errors that name the field.
 *
 * Reference: Hugging Face `GenerationConfig` (field meanings and defaults:
 * `max_new_tokens`, `do_sample`, `temperature`, `top_k`, `top_p`, `min_p`,
 * `repetition_penalty`, `num_beams`, `length_penalty`, `early_stopping`).
 *
 * @module
 */
import { z } from "zod";
import type { SamplingConfig } from "./sampling.ts";
import { expectedPhrase } from "../dsl/_zod_issues.ts";

/** An error in what a caller asked for (maps to HTTP 400 in the server). */
export class InferenceInputError extends Error {
  /** Dotted path of the offending field, e.g. `max_new_tokens`. */
  readonly field: string;
  /**
   * Creates the error.
   * @param field the offending field.
   * @param message "field: expected …, received …".
   */
  constructor(field: string, message: string) {
    super(message);
    this.name = "InferenceInputError";
    this.field = field;
  }
}

const int = (min: number) => z.number().int().min(min);

/**
 * Generation options as callers write them (camelCase). Internal: the
 * library takes {@linkcode GenerateOptions}; the server derives its
 * snake_case body from this schema.
 * @internal
 */
export const GenerateOptionsSchema = z.strictObject({
  /** Tokens to generate at most (≥ 1). Default 32. */
  maxNewTokens: int(1).default(32),
  /**
   * Argmax decoding. Default: true unless `temperature`, `topK`, `topP` or
   * `minP` is given. `temperature: 0` also means greedy.
   */
  greedy: z.boolean().optional(),
  /** Softmax temperature (≥ 0; 0 is greedy). Default 1. */
  temperature: z.number().min(0).optional(),
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK: int(0).optional(),
  /** Nucleus mass in (0, 1]. Default 1. */
  topP: z.number().gt(0).max(1).optional(),
  /** Relative probability floor in [0, 1). Default 0. */
  minP: z.number().min(0).lt(1).optional(),
  /** Penalty on seen tokens (> 0; 1 is none). Default 1. */
  repetitionPenalty: z.number().gt(0).default(1),
  /** Seed of the sampler (an integer). Default: random, reported back. */
  seed: z.number().int().optional(),
  /** Stop when the text contains any of these (needs a tokenizer). */
  stop: z.array(z.string().min(1)).default([]),
  /** Stop after any of these ids (the id is part of the output). */
  stopTokenIds: z.array(int(0)).default([]),
  /** Beam search width (1: no beam search). Default 1. */
  numBeams: int(1).default(1),
  /** Beam score = sum of log-probs / (generated length ^ lengthPenalty). */
  lengthPenalty: z.number().default(1),
  /** Beam search stops as soon as `numBeams` hypotheses are finished. */
  earlyStopping: z.boolean().default(false),
});

/** Generation options as callers write them (see the schema for meanings). */
export interface GenerateOptions {
  /** Tokens to generate at most (≥ 1). Default 32. */
  maxNewTokens?: number;
  /** Argmax decoding; default true unless a sampling option is given. */
  greedy?: boolean;
  /** Softmax temperature (≥ 0; 0 is greedy). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). */
  topK?: number;
  /** Nucleus mass in (0, 1]. */
  topP?: number;
  /** Relative probability floor in [0, 1). */
  minP?: number;
  /** Penalty on seen tokens (> 0; 1 is none). */
  repetitionPenalty?: number;
  /** Sampler seed. Default: random, reported back. */
  seed?: number;
  /** Stop strings (need a tokenizer). */
  stop?: string[];
  /** Stop token ids (kept in the output). */
  stopTokenIds?: number[];
  /** Beam width (1: no beam search). */
  numBeams?: number;
  /** Beam score = log-prob sum / length ^ lengthPenalty. Default 1. */
  lengthPenalty?: number;
  /** Beam search stops once numBeams hypotheses are finished. */
  earlyStopping?: boolean;
}

// The interface and the schema must accept the same input.
const _sameInput: [
  GenerateOptions extends z.input<typeof GenerateOptionsSchema> ? true : never,
  z.input<typeof GenerateOptionsSchema> extends GenerateOptions ? true : never,
] = [true, true];
void _sameInput;

/** Generation options with every default filled in. */
export interface ResolvedGenerateOptions {
  /** Tokens to generate at most. */
  maxNewTokens: number;
  /** How each token is chosen. */
  sampling: SamplingConfig;
  /** The sampler's seed. */
  seed: number;
  /** Stop strings. */
  stop: string[];
  /** Stop token ids. */
  stopTokenIds: number[];
  /** Beam width (1: no beam search). */
  numBeams: number;
  /** Beam length penalty exponent. */
  lengthPenalty: number;
  /** Beam early stopping. */
  earlyStopping: boolean;
}

/**
 * Formats a zod error as "field: message; field: message".
 *
 * @param error the zod error.
 * @param rename maps a schema key to the name the caller used (e.g. snake_case).
 * @returns the first offending field and the joined message.
 */
export function describeZodError(
  error: z.ZodError,
  rename: (key: string) => string = (k) => k,
): { field: string; message: string } {
  const parts = error.issues.map((issue) => {
    const path = issue.path.map((p) => rename(String(p))).join(".") ||
      "(body)";
    // "expected a number", not zod's "Invalid input: expected number,
    // received string" (which, with the value added, said "received" twice).
    const phrase = expectedPhrase(issue as unknown as z.core.$ZodRawIssue);
    const expected = phrase === undefined
      ? issue.message
      : `expected ${phrase}`;
    const received = "input" in issue && issue.code !== "unrecognized_keys" &&
        !/\breceived\b/.test(expected)
      ? `, received ${describeReceived(issue.input)}`
      : "";
    return { path, text: `${path}: ${expected}${received}` };
  });
  return {
    field: parts[0]?.path ?? "(body)",
    message: parts.map((p) => p.text).join("; "),
  };
}

function describeReceived(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string"
    ? JSON.stringify(value.slice(0, 40))
    : typeof value === "object"
    ? "an object"
    : String(value);
}

/**
 * Validates options and fills in defaults.
 *
 * @param input the caller's options (camelCase).
 * @returns the resolved options.
 * @throws InferenceInputError naming the first bad field.
 * @example
 * ```ts
 * import { resolveGenerateOptions } from "./options.ts";
 * const o = resolveGenerateOptions({ maxNewTokens: 8, temperature: 0.7, seed: 1 });
 * o.sampling.greedy; // false
 * ```
 */
export function resolveGenerateOptions(
  input: GenerateOptions = {},
): ResolvedGenerateOptions {
  const parsed = GenerateOptionsSchema.safeParse(input, {
    reportInput: true,
  });
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error);
    throw new InferenceInputError(field, message);
  }
  const o = parsed.data;
  const sampled = o.temperature !== undefined || o.topK !== undefined ||
    o.topP !== undefined || o.minP !== undefined;
  const greedy = o.temperature === 0 || (o.greedy ?? !sampled);
  if (o.numBeams > 1 && o.stop.length > 0) {
    throw new InferenceInputError(
      "stop",
      "stop: stop strings are not supported with numBeams > 1 (use stopTokenIds)",
    );
  }
  return {
    maxNewTokens: o.maxNewTokens,
    sampling: {
      greedy,
      temperature: o.temperature || 1,
      topK: o.topK ?? 0,
      topP: o.topP ?? 1,
      minP: o.minP ?? 0,
      repetitionPenalty: o.repetitionPenalty,
    },
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 31),
    stop: o.stop,
    stopTokenIds: o.stopTokenIds,
    numBeams: o.numBeams,
    lengthPenalty: o.lengthPenalty,
    earlyStopping: o.earlyStopping,
  };
}
