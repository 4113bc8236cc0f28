/**
 * Private: `POST /v1/classify` — `text` or `input_ids`, one or several;
 * answers `probabilities`, one row per input as the model outputs it, and
 * `scores`, each class's `{label, score}` per input (a single sigmoid output
 * as two classes), named by the classifier's `labels` when it has them.
 *
 * @module
 */
import type { Context } from "hono";
import { classifyRows, labelScores } from "./classify.ts";
import { promptToIds } from "./generate.ts";
import { ClassifyRequestSchema } from "./_http_schema.ts";
import { HttpError, readJson, type RouteContext } from "./_http.ts";

/**
 * @param ctx the app's model, limits and admission.
 * @returns the route's handler.
 */
export function classifyRoute(
  ctx: RouteContext,
): (c: Context) => Promise<Response> {
  const { model, tokenizer, vocab, limits } = ctx;
  return async (c) => {
    if (ctx.headKind !== "classifier") {
      throw new HttpError(
        400,
        "model",
        `model: /v1/classify needs a classifier model, this one has a ${ctx.headKind} head (use /v1/generate)`,
      );
    }
    const body = await readJson(c, ClassifyRequestSchema);
    if ((body.text === undefined) === (body.input_ids === undefined)) {
      throw new HttpError(
        400,
        "text",
        "text: expected exactly one of text or input_ids",
      );
    }
    const field = body.text !== undefined ? "text" : "input_ids";
    const raw = body.text ?? body.input_ids!;
    const many = Array.isArray(raw) && raw.some((x) => typeof x !== "number");
    const inputs = (many ? raw : [raw]) as (string | number[])[];
    if (inputs.length > limits.maxTexts) {
      throw new HttpError(
        413,
        field,
        `${field}: expected at most ${limits.maxTexts} inputs per request (the server's limit, --max-texts), received ${inputs.length}`,
      );
    }
    const rows = inputs.map((x, i) =>
      promptToIds(x, {
        vocab,
        tokenizer,
        field: many ? `${field}.${i}` : field,
      })
    );
    let cost = 0; // tokens as the model sees them: seqLen each when fixed
    for (const [i, r] of rows.entries()) {
      const at = many ? `${field}.${i}` : field;
      if (r.length > limits.maxPromptTokens) {
        throw new HttpError(
          413,
          at,
          `${at}: expected at most ${limits.maxPromptTokens} tokens (the server's limit, --max-prompt-tokens), received ${r.length}`,
        );
      }
      cost += model.resolved.seqLen ?? r.length;
    }
    if (cost > limits.maxRequestTokens) {
      throw new HttpError(
        413,
        field,
        `${field}: expected at most ${limits.maxRequestTokens} tokens per request in all (the server's limit, --max-request-tokens), received ${cost} in ${rows.length} inputs`,
      );
    }
    ctx.admit();
    try {
      const probabilities = await classifyRows(model, rows, {
        padId: tokenizer?.padId,
      });
      const tokens = rows.reduce((s, r) => s + r.length, 0);
      const head = model.architecture.nodes.at(-1);
      return c.json({
        probabilities,
        scores: probabilities.map((row) => labelScores(model, row)),
        labels: head?.kind === "classifier" ? head.labels ?? null : null,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    } finally {
      ctx.release();
    }
  };
}
