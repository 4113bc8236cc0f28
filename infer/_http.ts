/**
 * Private: what the server's routes share — the 4xx error that names a field,
 * JSON body parsing against a zod schema, and the context a route runs in.
 *
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { MambaModel } from "../models/types.ts";
import type { TextTokenizer } from "../train/tokenizers.ts";
import type { DecodeEngine } from "./engine.ts";
import { describeZodError } from "./options.ts";
import type { ServerLimits } from "./server.ts";

/** A request the server refuses: the status and the field at fault. */
export class HttpError extends Error {
  /**
   * @param status the HTTP status.
   * @param field the request field at fault (`body`, `prompt`, `server`, …).
   * @param message what was expected and what came.
   */
  constructor(
    readonly status: 400 | 404 | 413 | 429 | 503,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The JSON error body `{error: {message, field}}` with the error's status. */
export const fail = (c: Context, e: HttpError): Response =>
  c.json({ error: { message: e.message, field: e.field } }, e.status);

/**
 * Parses the request body as JSON and validates it.
 * @param c the request context.
 * @param schema the body's schema.
 * @returns the validated body.
 * @throws HttpError 400 naming the field.
 */
export async function readJson<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch (e) {
    throw new HttpError(
      400,
      "body",
      `body: expected a JSON object, received malformed JSON (${
        (e as Error).message
      })`,
    );
  }
  const parsed = schema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error);
    throw new HttpError(400, field, message);
  }
  return parsed.data;
}

/** What a route handler needs from the app. */
export interface RouteContext {
  /** The model served. */
  model: MambaModel;
  /** Tokenizer for text prompts and `text` outputs. */
  tokenizer?: TextTokenizer;
  /** The model's vocabulary (before padding). */
  vocab: number;
  /** The model's head kind (`lm_head`, `classifier`). */
  headKind: string;
  /** The app's limits, defaults filled in. */
  limits: ServerLimits;
  /** Stop ids used when a request gives no `stop_token_ids`. */
  defaultStopTokenIds?: number[];
  /** The continuous batch sampled requests join. */
  engine: DecodeEngine;
  /** Takes a request slot (throws 503 while draining, 429 when full). */
  admit(): void;
  /** Gives the slot back once the answer has been sent. */
  release(): void;
}
