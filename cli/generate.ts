/**
 * `deno task generate --model <dir|url> --prompt "…"`: streams the
 * continuation to stdout.
 *
 * Options: `--ids 1,2,3` (instead of text), `--max-new-tokens N`, `--greedy`,
 * `--temperature T`, `--top-k K`, `--top-p P`, `--min-p P`,
 * `--repetition-penalty R`, `--seed S`, `--stop STR` (repeatable),
 * `--stop-ids 2,3` (default: the folder's eos_token_id), `--beams N`,
 * `--length-penalty L`, `--early-stopping`, `--backend auto|webgpu|wasm|cpu`,
 * `--json` (prints ids, text and timings as JSON instead of streaming).
 *
 * Reference: Hugging Face `generate` options.
 *
 * @module
 */
import parser from "yargs-parser";
import { type BackendName, setBackend } from "../kernels/backend.ts";
import { generate } from "../infer/generate.ts";
import { loadServedModel } from "../infer/load.ts";
import type { GenerateOptions } from "../infer/options.ts";

const HELP =
  `usage: deno task generate --model <dir|url> (--prompt TEXT | --ids 1,2,3) [options]
  --max-new-tokens N     tokens to generate (default 32)
  --greedy               argmax (the default unless a sampling option is given)
  --temperature T --top-k K --top-p P --min-p P --repetition-penalty R --seed S
  --stop STR             stop string (repeatable; needs a tokenizer)
  --stop-ids 2,3         stop token ids (default: eos_token_id of the folder)
  --beams N --length-penalty L --early-stopping     beam search
  --backend NAME         auto (default) | webgpu | wasm | cpu
  --json                 print {input_ids, output_ids, text, timings} as JSON`;

const ids = (s: unknown) =>
  String(s).split(",").filter((x) => x.trim() !== "").map(Number);

/** @returns generation options from parsed flags (numbers checked by zod later). */
function optionsFromFlags(a: Record<string, unknown>): GenerateOptions {
  const num = (k: string) => a[k] === undefined ? undefined : Number(a[k]);
  const o: Record<string, unknown> = {
    maxNewTokens: num("max-new-tokens"),
    greedy: a.greedy ? true : undefined,
    temperature: num("temperature"),
    topK: num("top-k"),
    topP: num("top-p"),
    minP: num("min-p"),
    repetitionPenalty: num("repetition-penalty"),
    seed: num("seed"),
    stop: a.stop === undefined ? undefined : [a.stop].flat().map(String),
    stopTokenIds: a["stop-ids"] === undefined ? undefined : ids(a["stop-ids"]),
    numBeams: num("beams"),
    lengthPenalty: num("length-penalty"),
    earlyStopping: a["early-stopping"] ? true : undefined,
  };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o as GenerateOptions;
}

if (import.meta.main) {
  const a = parser(Deno.args, {
    string: ["model", "prompt", "ids", "stop", "stop-ids", "backend"],
    boolean: ["greedy", "early-stopping", "json", "help"],
    configuration: { "camel-case-expansion": false, "parse-numbers": false },
  });
  if (
    a.help || !a.model || (a.prompt === undefined) === (a.ids === undefined)
  ) {
    console.log(HELP);
    Deno.exit(a.help ? 0 : 2);
  }
  try {
    const backend = await setBackend((a.backend ?? "auto") as BackendName);
    const served = await loadServedModel(a.model);
    const options = optionsFromFlags(a);
    options.stopTokenIds ??= served.stopTokenIds;
    const prompt = a.ids !== undefined ? ids(a.ids) : a.prompt;
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
