/**
 * Private: `POST /v1/generate` — validates the request against the server's
 * limits, then answers with one JSON result, or streams tokens as server-sent
 * events. Sampled requests join the engine's continuous batch; beam searches
 * run beside it.
 *
 * Reference: Hugging Face text-generation-inference `/generate` (field names).
 *
 * @module
 */
import type { Context } from "hono";
import { promptToIds, runBeamSearch } from "./generate.ts";
import { resolveGenerateOptions } from "./options.ts";
import {
  GenerateRequestSchema,
  presentResult,
  requestOptions,
} from "./_http_schema.ts";
import { HttpError, readJson, type RouteContext } from "./_http.ts";
import { streamEvents } from "./_sse.ts";

/**
 * @param ctx the app's model, limits, engine and admission.
 * @returns the route's handler.
 */
export function generateRoute(
  ctx: RouteContext,
): (c: Context) => Promise<Response> {
  const { model, tokenizer, vocab, limits, engine } = ctx;
  return async (c) => {
    if (ctx.headKind !== "lm_head") {
      throw new HttpError(
        400,
        "model",
        `model: /v1/generate needs an lm_head model, this one has a ${ctx.headKind} head (use /v1/classify)`,
      );
    }
    const body = await readJson(c, GenerateRequestSchema);
    if ((body.prompt === undefined) === (body.input_ids === undefined)) {
      throw new HttpError(
        400,
        "prompt",
        "prompt: expected exactly one of prompt (text) or input_ids",
      );
    }
    const field = body.prompt !== undefined ? "prompt" : "input_ids";
    const ids = promptToIds(body.prompt ?? body.input_ids!, {
      vocab,
      tokenizer,
      field,
    });
    if (ids.length > limits.maxPromptTokens) {
      throw new HttpError(
        413,
        field,
        `${field}: expected at most ${limits.maxPromptTokens} tokens (the server's limit, --max-prompt-tokens), received ${ids.length}`,
      );
    }
    const max = body.max_new_tokens;
    if (max !== undefined && max > limits.maxNewTokens) {
      throw new HttpError(
        400,
        "max_new_tokens",
        `max_new_tokens: expected at most ${limits.maxNewTokens} (the server's limit, --max-new-tokens), received ${max}`,
      );
    }
    if ((body.num_beams ?? 1) > limits.maxBeams) {
      throw new HttpError(
        400,
        "num_beams",
        `num_beams: expected at most ${limits.maxBeams}, received ${body.num_beams}`,
      );
    }
    if ((body.stop?.length ?? 0) > 0 && !tokenizer) {
      throw new HttpError(
        400,
        "stop",
        "stop: stop strings need a tokenizer; this model has none (use stop_token_ids)",
      );
    }
    const resolved = resolveGenerateOptions({
      stopTokenIds: ctx.defaultStopTokenIds ?? [],
      ...requestOptions(body),
    });
    const cost = ids.length + resolved.maxNewTokens * resolved.numBeams;
    if (cost > limits.maxRequestTokens) {
      throw new HttpError(
        413,
        field,
        `${field}: expected at most ${limits.maxRequestTokens} tokens per request (the server's limit, --max-request-tokens), received ${ids.length} prompt tokens + ${resolved.maxNewTokens} new tokens${
          resolved.numBeams > 1 ? ` × ${resolved.numBeams} beams` : ""
        } = ${cost}`,
      );
    }
    if (body.stream && resolved.numBeams > 1) {
      throw new HttpError(
        400,
        "stream",
        "stream: not supported with num_beams > 1",
      );
    }
    ctx.admit();
    if (!body.stream) {
      try {
        const result = resolved.numBeams > 1
          ? await runBeamSearch(model, ids, resolved, tokenizer)
          : await engine.submit(ids, resolved);
        return c.json(presentResult(result));
      } finally {
        ctx.release();
      }
    }
    return streamEvents(engine, ids, { resolved, release: ctx.release });
  };
}
