/**
 * `deno task classify --model <dir|url> "text" …`: prints each class's
 * probability for each text (or for `--ids 1,2,3`), named by the classifier's
 * `labels` when the model carries them. Unlike the article's `infer`, it
 * classifies the text it is given.
 *
 * Reference: Hugging Face text-classification pipeline output (a label and
 * score per class and input).
 *
 * @module
 */
import {
  type BackendName,
  ensureBackend,
  setBackend,
} from "../kernels/backend.ts";
import { promptToIds } from "../infer/generate.ts";
import { loadServedModel } from "../infer/load.ts";
import { classifyRows, labelScores } from "../infer/classify.ts";
import { parseFlagsOrExit } from "./_flags.ts";

const HELP =
  `usage: deno task classify --model <dir|url> [options] "text" … | --ids 1,2,3
  --ids 1,2,3            classify token ids instead of texts
  --backend NAME         auto (default) | webgpu | wasm | cpu
  --mamba2-norm NAME     official (default) | transformers: a Mamba-2 config's gated norm
  --json                 print {labels, probabilities, scores} as JSON
Prints one line per input: the input, then "label: probability" for each
class (a single sigmoid output is P(class 1): class 0 gets 1 − p).`;

const FLAGS = {
  model: "string",
  ids: "ids",
  backend: { kind: "string", choices: ["auto", "webgpu", "wasm", "cpu"] },
  "mamba2-norm": { kind: "string", choices: ["official", "transformers"] },
  json: "boolean",
} as const;

if (import.meta.main) {
  const a = parseFlagsOrExit(Deno.args, FLAGS, HELP, {
    positionals: Infinity,
    required: ["model"],
  });
  const texts = a._;
  if ((texts.length === 0) === (a.ids === undefined)) {
    console.error(
      `error: expected texts or --ids, ${
        texts.length ? "received both" : "received neither"
      }\n${HELP.split("\n")[0]}`,
    );
    Deno.exit(2);
  }
  try {
    // No --backend: the library's own pick, said once on stderr.
    if ((a.backend ?? "auto") === "auto") await ensureBackend();
    else await setBackend(a.backend as BackendName);
    const { model, tokenizer } = await loadServedModel(a.model!, {
      mamba2Norm: a["mamba2-norm"] as "official" | "transformers" | undefined,
    });
    const head = model.architecture.nodes[model.architecture.nodes.length - 1];
    if (head.kind !== "classifier") {
      throw new Error(
        `${a.model}: expected a classifier model, received a ${head.kind} head (use deno task generate)`,
      );
    }
    if (texts.length > 0 && !tokenizer) {
      throw new Error(
        `${a.model}: this model folder has no tokenizer (tokenizer.json), so texts cannot be encoded; pass token ids with --ids 1,2,3`,
      );
    }
    const inputs: (string | number[])[] = a.ids !== undefined ? [a.ids] : texts;
    const rows = inputs.map((x, i) =>
      promptToIds(x, {
        vocab: model.resolved.vocab,
        tokenizer,
        field: a.ids !== undefined ? "--ids" : `input ${i}`,
      })
    );
    const probs = await classifyRows(model, rows, { padId: tokenizer?.padId });
    const scores = probs.map((row) => labelScores(model, row));
    if (a.json) {
      console.log(JSON.stringify({
        labels: head.labels ?? null,
        probabilities: probs,
        scores,
      }));
    } else {
      inputs.forEach((x, i) => {
        const input = typeof x === "string" ? JSON.stringify(x) : x.join(",");
        const p = scores[i].map((s) => `${s.label}: ${s.score.toFixed(4)}`);
        console.log(`${input}\t${p.join("\t")}`);
      });
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
