/**
 * `deno task generate --model <dir|url> --prompt "…"`: streams the
 * continuation to stdout.
 *
 * Options: `--ids 1,2,3` (instead of text), `--max-new-tokens N`, `--greedy`,
 * `--temperature T`, `--top-k K`, `--top-p P`, `--min-p P`,
 * `--repetition-penalty R`, `--seed S`, `--stop STR` (repeatable),
 * `--stop-ids 2,3` (default: the folder's eos_token_id), `--beams N`,
 * `--length-penalty L`, `--early-stopping`, `--backend auto|webgpu|wasm|cpu`,
 * `--mamba2-norm official|transformers` (a Mamba-2 config's gated norm),
 * `--json` (prints ids, text and timings as JSON instead of streaming).
 *
 * Reference: Hugging Face `generate` options.
 *
 * @module
 */
import {
  type BackendName,
  ensureBackend,
  setBackend,
} from "../kernels/backend.ts";
import { generate } from "../infer/generate.ts";
import { loadServedModel } from "../infer/load.ts";
import type { GenerateOptions } from "../infer/options.ts";
import { parseFlagsOrExit } from "./_flags.ts";

const HELP =
  `usage: deno task generate --model <dir|url> (--prompt TEXT | --ids 1,2,3) [options]
  --max-new-tokens N     tokens to generate (default 32)
  --greedy               argmax (the default unless a sampling option is given)
  --temperature T --top-k K --top-p P --min-p P --repetition-penalty R --seed S
  --stop STR             stop string (repeatable; needs a tokenizer)
  --stop-ids 2,3         stop token ids (default: eos_token_id of the folder)
  --beams N --length-penalty L --early-stopping     beam search
  --backend NAME         auto (default) | webgpu | wasm | cpu
  --mamba2-norm NAME     official (default) | transformers: a Mamba-2 config's gated norm
  --json                 print {input_ids, output_ids, text, timings} as JSON
Flags are kebab-case; --max_new_tokens and --maxNewTokens are the same flag.`;

const FLAGS = {
  model: "string",
  prompt: "string",
  ids: "ids",
  "max-new-tokens": { kind: "integer", min: 1 },
  greedy: "boolean",
  temperature: { kind: "number", min: 0 },
  "top-k": { kind: "integer", min: 0 },
  "top-p": { kind: "number", min: 0, max: 1 },
  "min-p": { kind: "number", min: 0, max: 1 },
  "repetition-penalty": { kind: "number", min: 0 },
  seed: "integer",
  stop: "strings",
  "stop-ids": "ids",
  beams: { kind: "integer", min: 1 },
  "length-penalty": "number",
  "early-stopping": "boolean",
  backend: { kind: "string", choices: ["auto", "webgpu", "wasm", "cpu"] },
  "mamba2-norm": { kind: "string", choices: ["official", "transformers"] },
  json: "boolean",
} as const;

/** @returns generation options from parsed flags (ranges checked again by zod). */
function optionsFromFlags(
  a: ReturnType<typeof parseFlagsOrExit<typeof FLAGS>>,
): GenerateOptions {
  const o: Record<string, unknown> = {
    maxNewTokens: a["max-new-tokens"],
    greedy: a.greedy,
    temperature: a.temperature,
    topK: a["top-k"],
    topP: a["top-p"],
    minP: a["min-p"],
    repetitionPenalty: a["repetition-penalty"],
    seed: a.seed,
    stop: a.stop,
    stopTokenIds: a["stop-ids"],
    numBeams: a.beams,
    lengthPenalty: a["length-penalty"],
    earlyStopping: a["early-stopping"],
  };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o as GenerateOptions;
}

if (import.meta.main) {
  const a = parseFlagsOrExit(Deno.args, FLAGS, HELP, { required: ["model"] });
  if ((a.prompt === undefined) === (a.ids === undefined)) {
    console.error(
      `error: expected one of --prompt or --ids, received ${
        a.prompt === undefined ? "neither" : "both"
      }\n${HELP.split("\n")[0]}`,
    );
    Deno.exit(2);
  }
  try {
    // No --backend: the library's own pick, said once on stderr.
    const backend = (a.backend ?? "auto") === "auto"
      ? await ensureBackend()
      : await setBackend(a.backend as BackendName);
    const served = await loadServedModel(a.model!, {
      mamba2Norm: a["mamba2-norm"] as "official" | "transformers" | undefined,
    });
    if (a.prompt !== undefined && !served.tokenizer) {
      throw new Error(
        `${a.model}: this model folder has no tokenizer (tokenizer.json), so --prompt cannot be encoded; pass token ids with --ids 1,2,3`,
      );
    }
    const options = optionsFromFlags(a);
    options.stopTokenIds ??= served.stopTokenIds;
    const prompt = a.ids ?? a.prompt!;
    const encoder = new TextEncoder();
    const stream = !a.json && (options.numBeams ?? 1) === 1;
    const [r] = await generate(served.model, [prompt], {
      ...options,
      tokenizer: served.tokenizer,
      onToken: stream
        ? (_, e) =>
          Deno.stdout.writeSync(encoder.encode(e.text ?? `${e.token} `))
        : undefined,
    });
    if (a.json) {
      console.log(JSON.stringify({
        backend,
        input_ids: r.promptIds,
        output_ids: r.outputIds,
        text: r.text,
        finish_reason: r.finishReason,
        seed: r.seed,
        timings: r.timings,
        tokens_per_s: r.outputIds.length / (r.timings.totalMs / 1000),
      }));
    } else if (!stream) console.log(r.text ?? r.outputIds.join(" "));
    else console.log();
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
