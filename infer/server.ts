/**
 * The HTTP server: JSON over HTTP with Hono, requests validated with zod.
 *
 * - `POST /v1/generate` — `prompt` (text) or `input_ids`, plus the options of
 *   `GenerateOptionsSchema` in snake_case (`max_new_tokens`, `temperature`,
 *   `top_k`, `top_p`, `min_p`, `repetition_penalty`, `seed`, `stop`,
 *   `stop_token_ids`, `num_beams`, `length_penalty`, `early_stopping`);
 *   returns `output_ids` (generated only), `text` when there is a tokenizer,
 *   `finish_reason`, `seed`, `usage`, `timings`. `"stream": true` sends one
 *   server-sent event per token (`data: {"token", "index", "text"?}`), then
 *   `event: done` with the full result.
 * - `POST /v1/classify` — `text` or `input_ids` (one or several); returns
 *   `probabilities` (one row per input).
 * - `GET /v1/model` — architecture, backend, limits. `GET /healthz`.
 *
 * Errors are JSON `{error: {message, field}}` with a 4xx status; requests over
 * `maxConcurrent` get 429. Sampled requests join one continuous batch
 * (`DecodeEngine`, first come first served); beam searches run beside it.
 *
 * Reference: Hugging Face text-generation-inference `/generate` and
 * `/generate_stream` (field names, SSE framing).
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import type { z } from "zod";
import { getBackend } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import type { TextTokenizer } from "../train/tokenizers.ts";
import { DecodeEngine, type TokenEvent } from "./engine.ts";
import { type GenerateResult, promptToIds, runBeamSearch } from "./generate.ts";
import {
  describeZodError,
  InferenceInputError,
  resolveGenerateOptions,
} from "./options.ts";
import {
  ClassifyRequestSchema,
  GenerateRequestSchema,
  requestOptions,
} from "./_http_schema.ts";
import { fitIds } from "../train/data/batches.ts";

/** Server limits (every one enforced with a 4xx naming the field). */
export interface ServerLimits {
  /** Largest request body in bytes (default 1 MiB) → 413. */
  maxBodyBytes: number;
  /** Longest prompt in tokens (default 8192). */
  maxPromptTokens: number;
  /** Largest `max_new_tokens` (default 2048). */
  maxNewTokens: number;
  /** Largest `num_beams` (default 8). */
  maxBeams: number;
  /** Requests in flight (decoding or queued) before 429 (default 64). */
  maxConcurrent: number;
  /** Sequences decoded together in one batch (default 16). */
  maxBatch: number;
}

/** Default {@linkcode ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 1 << 20,
  maxPromptTokens: 8192,
  maxNewTokens: 2048,
  maxBeams: 8,
  maxConcurrent: 64,
  maxBatch: 16,
};

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** The model to serve. */
  model: MambaModel;
  /** Tokenizer for text prompts and `text` outputs. */
  tokenizer?: TextTokenizer;
  /** Name reported by `/v1/model` (e.g. the folder). */
  name?: string;
  /** Limits; missing entries take {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** Stop ids used when a request gives no `stop_token_ids` (e.g. EOS). */
  defaultStopTokenIds?: number[];
}

/** A server app: its fetch handler plus lifecycle. */
export interface App {
  /** Handles one request. */
  fetch: (request: Request) => Response | Promise<Response>;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** Stops taking requests (503) and resolves when in-flight ones finish. */
  drain(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 413 | 429 | 503,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const fail = (c: Context, e: HttpError) =>
  c.json({ error: { message: e.message, field: e.field } }, e.status);

async function readJson<S extends z.ZodType>(
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

/**
 * Builds the server's request handler.
 *
 * @param options model, tokenizer, limits.
 * @returns the app (pass `app.fetch` to `Deno.serve`).
 * @example
 * ```ts
 * import { createApp } from "./server.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const app = createApp({ model });
 * Deno.serve({ port: 8000 }, app.fetch);
 * ```
 */
export function createApp(options: AppOptions): App {
  const { model, tokenizer } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const head = model.architecture.nodes[model.architecture.nodes.length - 1];
  const vocab = model.resolved.vocab;
  const engine = new DecodeEngine(model, {
    maxBatch: limits.maxBatch,
    tokenizer,
  });
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | null = null;
  const release = () => {
    inFlight--;
    if (draining && inFlight === 0) drained?.();
  };

  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof HttpError) return fail(c, err);
    if (err instanceof InferenceInputError) {
      return fail(c, new HttpError(400, err.field, err.message));
    }
    return c.json({ error: { message: String(err), field: null } }, 500);
  });
  app.notFound((c) =>
    fail(
      c,
      new HttpError(
        404,
        "path",
        `path: no route ${c.req.method} ${c.req.path}`,
      ),
    )
  );
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: (c) =>
        c.json({
          error: {
            message:
              `body: expected at most ${limits.maxBodyBytes} bytes, received more`,
            field: "body",
          },
        }, 413),
    }),
  );
  // Admission: one slot per request, held until its answer has been sent.
  const admit = () => {
    if (draining) {
      throw new HttpError(503, "server", "server: shutting down");
    }
    if (inFlight >= limits.maxConcurrent) {
      throw new HttpError(
        429,
        "server",
        `server: ${inFlight} requests in flight, the limit is ${limits.maxConcurrent}; retry later`,
      );
    }
    inFlight++;
  };

  app.get(
    "/healthz",
    (c) =>
      draining
        ? c.json({ status: "draining" }, 503)
        : c.json({ status: "ok", in_flight: inFlight }),
  );

  app.get("/v1/model", (c) =>
    c.json({
      name: options.name ?? null,
      head: head.kind,
      architecture: model.architecture,
      vocab,
      d_model: model.resolved.dModel,
      layers: model.resolved.layers.length,
      backend: getBackend(),
      tokenizer: tokenizer?.kind ?? null,
      limits,
      running: engine.running,
      queued: engine.queued,
    }));

  app.post("/v1/generate", async (c) => {
    if (head.kind !== "lm_head") {
      throw new HttpError(
        400,
        "model",
        `model: /v1/generate needs an lm_head model, this one has a ${head.kind} head (use /v1/classify)`,
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
        400,
        field,
        `${field}: expected at most ${limits.maxPromptTokens} tokens, received ${ids.length}`,
      );
    }
    const max = body.max_new_tokens;
    if (max !== undefined && max > limits.maxNewTokens) {
      throw new HttpError(
        400,
        "max_new_tokens",
        `max_new_tokens: expected at most ${limits.maxNewTokens} (the server's limit), received ${max}`,
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
      stopTokenIds: options.defaultStopTokenIds ?? [],
      ...requestOptions(body),
    });
    if (body.stream && resolved.numBeams > 1) {
      throw new HttpError(
        400,
        "stream",
        "stream: not supported with num_beams > 1",
      );
    }
    admit();
    if (!body.stream) {
      try {
        const result = resolved.numBeams > 1
          ? await runBeamSearch(model, ids, resolved, tokenizer)
          : await engine.submit(ids, resolved);
        return c.json(present(result));
      } finally {
        release();
      }
    }
    return streamEvents(ids, resolved);
  });

  /** SSE: one `data:` event per token, then `event: done` with the result. */
  function streamEvents(
    ids: number[],
    resolved: ReturnType<typeof resolveGenerateOptions>,
  ): Response {
    const abort = new AbortController(); // aborted when the client goes away
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            abort.abort(); // the client went away
          }
        };
        engine.submit(ids, resolved, {
          signal: abort.signal,
          onToken: (e: TokenEvent) => send(`data: ${JSON.stringify(e)}\n\n`),
        }).then(
          (result) =>
            send(`event: done\ndata: ${JSON.stringify(present(result))}\n\n`),
          (error) =>
            send(
              `event: error\ndata: ${
                JSON.stringify({ error: { message: String(error) } })
              }\n\n`,
            ),
        ).finally(() => {
          release();
          try {
            controller.close();
          } catch { /* already closed */ }
        });
      },
      cancel() {
        abort.abort();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
      },
    });
  }

  app.post("/v1/classify", async (c) => {
    if (head.kind !== "classifier") {
      throw new HttpError(
        400,
        "model",
        `model: /v1/classify needs a classifier model, this one has a ${head.kind} head (use /v1/generate)`,
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
    const rows = inputs.map((x, i) =>
      promptToIds(x, {
        vocab,
        tokenizer,
        field: many ? `${field}.${i}` : field,
      })
    );
    for (const [i, r] of rows.entries()) {
      if (r.length > limits.maxPromptTokens) {
        throw new HttpError(
          400,
          many ? `${field}.${i}` : field,
          `${field}: expected at most ${limits.maxPromptTokens} tokens, received ${r.length}`,
        );
      }
    }
    admit();
    try {
      const probabilities = await classifyRows(model, rows, {
        padId: tokenizer?.padId,
      });
      const tokens = rows.reduce((s, r) => s + r.length, 0);
      return c.json({
        probabilities,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    } finally {
      release();
    }
  });

  return {
    fetch: (request) => app.fetch(request),
    get inFlight() {
      return inFlight;
    },
    drain() {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => drained = resolve);
    },
  };
}

/**
 * Class probabilities, one input at a time (each alone: no padding between
 * inputs). A model with a fixed sequence length (`seqLen` in its
 * architecture) sees each input the way training fed it
 * (`fitIds` with training's default sides): cut to the first `seqLen`
 * tokens, then padded on the left with `padId` — for mean pooling the pads
 * are part of what the model learned to average.
 *
 * @param model a classifier-head model.
 * @param rows token-id lists.
 * @param options `padId`: the tokenizer's pad id (default 0).
 * @returns (rows, c) probabilities (raw scores when the head's activation is "none").
 */
export async function classifyRows(
  model: MambaModel,
  rows: number[][],
  options: { padId?: number } = {},
): Promise<number[][]> {
  const seqLen = model.resolved.seqLen;
  const out: number[][] = [];
  for (const row of rows) {
    const ids = seqLen === undefined
      ? row
      : fitIds(row, options.padId ?? 0, { seqLen });
    const probs = model.forward([ids]); // (1, c)
    out.push(Array.from(await probs.data()));
    probs.dispose();
    await new Promise((r) => setTimeout(r, 0));
  }
  return out;
}

/** The JSON shape of a generation result. */
function present(r: GenerateResult) {
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

/** Options of {@linkcode serve}. */
export interface ServeOptions extends AppOptions {
  /** Port (0: any free port). Default 8000. */
  port?: number;
  /** Interface to listen on. Default "127.0.0.1". */
  hostname?: string;
}

/** A running server. */
export interface RunningServer {
  /** The port it listens on. */
  port: number;
  /** The app (in-flight count). */
  app: App;
  /** Graceful stop: refuse new requests, finish in-flight ones, close. */
  shutdown(): Promise<void>;
}

/**
 * Starts the server with `Deno.serve`.
 *
 * @param options model, tokenizer, limits, port.
 * @returns the port and a graceful `shutdown`.
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const server = serve({ model, port: 0 });
 * Deno.addSignalListener("SIGTERM", () => server.shutdown());
 * ```
 */
export function serve(options: ServeOptions): RunningServer {
  const app = createApp(options);
  const server = Deno.serve({
    port: options.port ?? 8000,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: () => {},
  }, app.fetch);
  let stopping: Promise<void> | null = null;
  return {
    port: server.addr.port,
    app,
    shutdown: () => stopping ??= app.drain().then(() => server.shutdown()),
  };
}
