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
 *   `probabilities` (one row per input), `scores` (`{label, score}` per class
 *   and input) and the classifier's `labels` (class names, or null).
 * - `GET /v1/model` — architecture, backend, limits. `GET /healthz`.
 *
 * Errors are JSON `{error: {message, field}}` with a 4xx status; requests over
 * `maxConcurrent` get 429, requests over a size limit (body bytes, prompt
 * tokens, texts, tokens per request) 413. Sampled requests join one continuous batch
 * (`DecodeEngine`, first come first served); beam searches run beside it.
 *
 * The routes live in `_generate_route.ts` (validation, JSON or SSE via
 * `_sse.ts`) and `_classify_route.ts`; request bodies in `_http_schema.ts`;
 * the shared 4xx error and body parsing in `_http.ts`.
 *
 * Reference: Hugging Face text-generation-inference `/generate` and
 * `/generate_stream` (field names, SSE framing).
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getBackend } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import type { TextTokenizer } from "../train/tokenizers.ts";
import { DecodeEngine } from "./engine.ts";
import { InferenceInputError } from "./options.ts";
import { fail, HttpError, type RouteContext } from "./_http.ts";
import { generateRoute } from "./_generate_route.ts";
import { classifyRoute } from "./_classify_route.ts";

/** Server limits (every one enforced with a 4xx naming the field). */
export interface ServerLimits {
  /** Largest request body in bytes (default 1 MiB) → 413. */
  maxBodyBytes: number;
  /** Longest prompt, or classify input, in tokens (default 8192) → 413. */
  maxPromptTokens: number;
  /** Inputs of one `/v1/classify` request (default 64) → 413. */
  maxTexts: number;
  /**
   * Tokens one request may cost (default 65536) → 413: the prompt plus
   * `max_new_tokens` for `/v1/generate`; every input as the model sees it
   * (`seqLen` each for a model with a fixed length) for `/v1/classify`.
   */
  maxRequestTokens: number;
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
  maxTexts: 64,
  maxRequestTokens: 65536,
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
      labels: head.kind === "classifier" ? head.labels ?? null : null,
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

  const ctx: RouteContext = {
    model,
    tokenizer,
    vocab,
    headKind: head.kind,
    limits,
    defaultStopTokenIds: options.defaultStopTokenIds,
    engine,
    admit,
    release,
  };
  app.post("/v1/generate", generateRoute(ctx));
  app.post("/v1/classify", classifyRoute(ctx));

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

/** Options of {@linkcode serve}. */
export interface ServeOptions extends AppOptions {
  /** Port (0: any free port). Default 8000. */
  port?: number;
  /** Interface to listen on. Default "127.0.0.1". */
  hostname?: string;
  /**
   * How long `shutdown` waits for requests in flight before it gives up on
   * them, in milliseconds. Default 10 000.
   */
  drainTimeoutMs?: number;
}

/** Default {@linkcode ServeOptions.drainTimeoutMs}. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** A running server. */
export interface RunningServer {
  /** The port it listens on. */
  port: number;
  /** The app (in-flight count). */
  app: App;
  /**
   * Graceful stop: refuse new requests, finish in-flight ones for at most
   * `drainTimeoutMs`, close.
   *
   * @returns true when every request finished, false when the timeout
   *   left some unanswered (the caller may exit; the listener is closed).
   */
  shutdown(): Promise<boolean>;
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
  const timeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let stopping: Promise<boolean> | null = null;
  const stop = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      // Deno's own shutdown also waits for responses still being sent.
      const finished = app.drain().then(() => server.shutdown()).then(() =>
        true as const
      );
      const done = await Promise.race([finished, expired]);
      // Timed out: stop listening anyway (Deno's shutdown closes the
      // listener at once; its promise waits for the requests left).
      if (!done) server.shutdown().catch(() => {});
      return done;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    port: server.addr.port,
    app,
    shutdown: () => stopping ??= stop(),
  };
}
