/**
 * `deno task serve --model <dir|url> [--port 8000] [--host 127.0.0.1]
 * [--backend auto|webgpu|wasm|cpu] [--max-concurrent 64] [--max-batch 16]
 * [--max-new-tokens 2048] [--max-prompt-tokens 8192] [--max-body-bytes N]`:
 * serves the model over HTTP (routes in infer/server.ts). SIGTERM and SIGINT
 * stop taking requests, finish the ones in flight, then exit.
 *
 * This file is also the entry of the edge bundle (`deno task bundle`).
 *
 * Reference: Hugging Face text-generation-inference launcher flags.
 *
 * @module
 */
import parser from "yargs-parser";
import { type BackendName, setBackend } from "../kernels/backend.ts";
import { loadServedModel } from "../infer/load.ts";
import { DEFAULT_LIMITS, serve } from "../infer/server.ts";

const HELP =
  `usage: serve --model <dir|url> [--port 8000] [--host 127.0.0.1] [--backend auto|webgpu|wasm|cpu]
  limits: --max-concurrent ${DEFAULT_LIMITS.maxConcurrent} --max-batch ${DEFAULT_LIMITS.maxBatch} --max-new-tokens ${DEFAULT_LIMITS.maxNewTokens}
          --max-prompt-tokens ${DEFAULT_LIMITS.maxPromptTokens} --max-body-bytes ${DEFAULT_LIMITS.maxBodyBytes} --max-beams ${DEFAULT_LIMITS.maxBeams}`;

/**
 * Runs the server from command-line flags.
 *
 * @param args the flags (Deno.args).
 * @param defaultBackend the backend when `--backend` is absent.
 */
export async function main(
  args: string[],
  defaultBackend: BackendName | "auto" = "auto",
): Promise<void> {
  const a = parser(args, {
    string: ["model", "backend", "host"],
    boolean: ["help"],
    configuration: { "camel-case-expansion": false },
  });
  if (a.help || !a.model) {
    console.log(HELP);
    Deno.exit(a.help ? 0 : 2);
  }
  const limit = (flag: string, fallback: number) => {
    const v = a[flag] === undefined ? fallback : Number(a[flag]);
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(
        `--${flag}: expected a positive integer, received ${a[flag]}`,
      );
    }
    return v;
  };
  const limits = {
    maxConcurrent: limit("max-concurrent", DEFAULT_LIMITS.maxConcurrent),
    maxBatch: limit("max-batch", DEFAULT_LIMITS.maxBatch),
    maxNewTokens: limit("max-new-tokens", DEFAULT_LIMITS.maxNewTokens),
    maxPromptTokens: limit("max-prompt-tokens", DEFAULT_LIMITS.maxPromptTokens),
    maxBodyBytes: limit("max-body-bytes", DEFAULT_LIMITS.maxBodyBytes),
    maxBeams: limit("max-beams", DEFAULT_LIMITS.maxBeams),
  };
  const backend = await setBackend(
    (a.backend ?? defaultBackend) as BackendName | "auto",
  );
  const served = await loadServedModel(a.model);
  const server = serve({
    model: served.model,
    tokenizer: served.tokenizer,
    defaultStopTokenIds: served.stopTokenIds,
    name: a.model,
    limits,
    port: a.port === undefined ? 8000 : Number(a.port),
    hostname: a.host ?? "127.0.0.1",
  });
  console.log(
    `serving ${a.model} on http://${
      a.host ?? "127.0.0.1"
    }:${server.port} (backend ${backend}, tokenizer ${
      served.tokenizer?.kind ?? "none"
    })`,
  );
  const stop = async () => {
    console.log("shutting down: finishing requests in flight");
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
