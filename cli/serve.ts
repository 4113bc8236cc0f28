/**
 * `deno task serve --model <dir|url> [--port 8000] [--host 127.0.0.1]
 * [--backend auto|webgpu|wasm|cpu] [limits] [--drain-timeout 10]`: serves the
 * model over HTTP (routes in infer/server.ts). The first SIGTERM or SIGINT
 * stops taking requests and finishes the ones in flight for at most
 * `--drain-timeout` seconds, then exits; a second signal exits at once.
 *
 * This file is also the entry of the edge bundle (`deno task bundle`).
 *
 * Reference: Hugging Face text-generation-inference launcher flags.
 *
 * @module
 */
import {
  type BackendName,
  ensureBackend,
  setBackend,
} from "../kernels/backend.ts";
import { loadServedModel } from "../infer/load.ts";
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_LIMITS,
  serve,
  type ServerLimits,
} from "../infer/server.ts";
import { parseFlagsOrExit } from "./_flags.ts";

const D = DEFAULT_LIMITS;
const HELP = `usage: deno task serve --model <dir|url> [options]
  --port N               port to listen on (default 8000; 0: any free port)
  --host ADDR            interface (default 127.0.0.1)
  --backend NAME         auto (default) | webgpu | wasm | cpu
  --mamba2-norm NAME     official (default) | transformers: a Mamba-2 config's gated norm
  --drain-timeout S      on SIGTERM/SIGINT, seconds to finish requests in
                         flight before exiting (default ${
  DEFAULT_DRAIN_TIMEOUT_MS / 1000
}); a second signal exits at once
limits (a request over one gets 413, or 400 for max-new-tokens/max-beams):
  --max-prompt-tokens ${D.maxPromptTokens}   --max-new-tokens ${D.maxNewTokens}   --max-beams ${D.maxBeams}
  --max-texts ${D.maxTexts}            inputs per /v1/classify request
  --max-request-tokens ${D.maxRequestTokens}  tokens per request (prompt + new tokens; all classify inputs)
  --max-body-bytes ${D.maxBodyBytes}   --max-concurrent ${D.maxConcurrent} (then 429)   --max-batch ${D.maxBatch}`;

const positive = { kind: "integer", min: 1 } as const;

/** Each limit's flag (kebab-case of its {@linkcode ServerLimits} key). */
const LIMIT_FLAGS = {
  "max-concurrent": "maxConcurrent",
  "max-batch": "maxBatch",
  "max-new-tokens": "maxNewTokens",
  "max-prompt-tokens": "maxPromptTokens",
  "max-body-bytes": "maxBodyBytes",
  "max-beams": "maxBeams",
  "max-texts": "maxTexts",
  "max-request-tokens": "maxRequestTokens",
} as const satisfies Record<string, keyof ServerLimits>;

const FLAGS = {
  model: "string",
  port: { kind: "integer", min: 0, max: 65535 },
  host: "string",
  backend: { kind: "string", choices: ["auto", "webgpu", "wasm", "cpu"] },
  "mamba2-norm": { kind: "string", choices: ["official", "transformers"] },
  "drain-timeout": { kind: "number", min: 0 },
  ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((k) => [k, positive])),
} as const;

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
  const a = parseFlagsOrExit(args, FLAGS, HELP, { required: ["model"] });
  const model = a.model!;
  const limits = { ...DEFAULT_LIMITS };
  for (const [flag, key] of Object.entries(LIMIT_FLAGS)) {
    const v = (a as Record<string, unknown>)[flag];
    if (typeof v === "number") limits[key] = v;
  }
  const drainTimeoutMs =
    (a["drain-timeout"] ?? DEFAULT_DRAIN_TIMEOUT_MS / 1000) *
    1000;
  const wanted = a.backend ?? defaultBackend;
  const backend = wanted === "auto"
    ? await ensureBackend()
    : await setBackend(wanted as BackendName);
  const served = await loadServedModel(model, {
    mamba2Norm: a["mamba2-norm"] as "official" | "transformers" | undefined,
  });
  const host = a.host ?? "127.0.0.1";
  const server = serve({
    model: served.model,
    tokenizer: served.tokenizer,
    defaultStopTokenIds: served.stopTokenIds,
    name: model,
    limits,
    port: a.port ?? 8000,
    hostname: host,
    drainTimeoutMs,
  });
  console.log(
    `serving ${model} on http://${host}:${server.port} (backend ${backend}, tokenizer ${
      served.tokenizer?.kind ?? "none"
    })`,
  );
  let signals = 0;
  const stop = async (signal: Deno.Signal) => {
    if (++signals > 1) {
      console.error(
        `${signal} again: exiting now, ${server.app.inFlight} requests unanswered`,
      );
      Deno.exit(1);
    }
    console.log(
      `${signal}: shutting down, finishing ${server.app.inFlight} requests in flight for at most ${
        drainTimeoutMs / 1000
      } s (a second signal exits at once)`,
    );
    if (await server.shutdown()) Deno.exit(0);
    console.error(
      `drain timeout (${
        drainTimeoutMs / 1000
      } s): exiting with ${server.app.inFlight} requests unanswered`,
    );
    Deno.exit(1);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
