/**
 * Private: a generation streamed as server-sent events — one `data:` event
 * per token, then `event: done` with the full result (or `event: error`).
 *
 * Reference: Hugging Face text-generation-inference `/generate_stream` (SSE
 * framing).
 *
 * @module
 */
import type { DecodeEngine, TokenEvent } from "./engine.ts";
import type { ResolvedGenerateOptions } from "./options.ts";
import { presentResult } from "./_http_schema.ts";

/**
 * Submits the prompt to the engine and streams its tokens.
 * @param engine the decode engine.
 * @param ids the prompt ids.
 * @param options resolved generation options and `release`, called once the
 *   stream has ended (the request's slot).
 * @returns the `text/event-stream` response.
 */
export function streamEvents(
  engine: DecodeEngine,
  ids: number[],
  options: { resolved: ResolvedGenerateOptions; release: () => void },
): Response {
  const { resolved, release } = options;
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
          send(
            `event: done\ndata: ${JSON.stringify(presentResult(result))}\n\n`,
          ),
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
