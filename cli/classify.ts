/**
 * `deno task classify --model <dir|url> "text" …`: prints the class
 * probabilities of each text (or of `--ids 1,2,3`) for a classifier model.
 * Unlike the article's `infer`, it classifies the text it is given.
 *
 * Reference: Hugging Face text-classification pipeline output (one row of
 * scores per input).
 *
 * @module
 */
import parser from "yargs-parser";
import { type BackendName, setBackend } from "../kernels/backend.ts";
import { promptToIds } from "../infer/generate.ts";
import { loadServedModel } from "../infer/load.ts";
import { classifyRows } from "../infer/classify.ts";

const HELP =
  `usage: deno task classify --model <dir|url> [--backend NAME] [--json] "text" … | --ids 1,2,3`;

if (import.meta.main) {
  const a = parser(Deno.args, {
    string: ["model", "ids", "backend"],
    boolean: ["json", "help"],
    configuration: { "parse-numbers": false },
  });
  const texts = a._.map(String);
  if (a.help || !a.model || (texts.length === 0 && a.ids === undefined)) {
    console.log(HELP);
    Deno.exit(a.help ? 0 : 2);
  }
  try {
    await setBackend((a.backend ?? "auto") as BackendName);
    const { model, tokenizer } = await loadServedModel(a.model);
    const head = model.architecture.nodes[model.architecture.nodes.length - 1];
    if (head.kind !== "classifier") {
      throw new Error(
        `${a.model}: expected a classifier model, received a ${head.kind} head (use deno task generate)`,
      );
    }
    const inputs: (string | number[])[] = a.ids !== undefined
      ? [String(a.ids).split(",").map(Number)]
      : texts;
    const rows = inputs.map((x, i) =>
      promptToIds(x, {
        vocab: model.resolved.vocab,
        tokenizer,
        field: `input ${i}`,
      })
    );
    const probs = await classifyRows(model, rows, { padId: tokenizer?.padId });
    if (a.json) console.log(JSON.stringify({ probabilities: probs }));
    else {
      inputs.forEach((x, i) => {
        const label = typeof x === "string" ? JSON.stringify(x) : x.join(",");
        const p = probs[i].map((v, c) => `class ${c}: ${v.toFixed(4)}`);
        console.log(`${label}\t${p.join("\t")}`);
      });
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
