/**
 * Picks and loads the training data named by `--data`, split into train,
 * validation and test.
 *
 * @module
 */
import type { TrainConfig } from "../config.ts";
import type { ClassData, LmData } from "../loop.ts";
import type { TextTokenizer } from "../tokenizers.ts";
import { tokenStream } from "./batches.ts";
import { imdbReviews, mobyDick, spamAssassin } from "./embedded.ts";
import {
  type ColumnOptions,
  type LabeledText,
  readAclImdb,
  readLabeledFile,
  readParquet,
} from "./files.ts";
import { downloadHubDataset } from "./hub.ts";
import { decodeUtf8 } from "./_utf8.ts";
import { splitItems } from "./split.ts";

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    throw new Error(
      `--data: expected spam, imdb, moby, hub:<owner/name>, a folder or a file, received ${
        JSON.stringify(path)
      } (not found)`,
    );
  }
}

/**
 * Loads classification data.
 * @param c the config (data, columns, split fractions, seed).
 * @param classes number of classes of the head (2 for one sigmoid output).
 * @returns train / validation / test examples.
 */
export async function loadClassData(
  c: TrainConfig,
  classes: number,
): Promise<ClassData> {
  const spec = c.data === "auto" ? "spam" : c.data;
  const columns: ColumnOptions = {
    textColumn: c.textColumn,
    labelColumn: c.labelColumn,
    classes,
    labelNames: c.labelNames
      ? c.labelNames.split(",").map((s) => s.trim())
      : undefined,
  };
  const split = { validation: c.validation, test: c.test, seed: c.seed };
  const withTest = (train: LabeledText[], test: LabeledText[]): ClassData => {
    const s = splitItems(train, {
      validation: c.validation,
      test: 0,
      seed: c.seed,
    });
    return {
      kind: "classify",
      train: s.train,
      validation: s.validation,
      test,
      classes,
    };
  };
  if (spec === "spam") {
    return {
      kind: "classify",
      ...splitItems(spamAssassin(c.email), split),
      classes,
    };
  }
  if (spec === "imdb") {
    return {
      kind: "classify",
      ...splitItems(await imdbReviews(), split),
      classes,
    };
  }
  if (spec.startsWith("hub:")) {
    const files = await downloadHubDataset(spec.slice(4));
    const read = async (paths: string[] = []) =>
      (await Promise.all(paths.map((p) => readParquet(p, columns)))).flat();
    const train = await read(files.train);
    const test = await read(files.test);
    if (train.length === 0) {
      throw new Error(
        `${spec}: expected a "train" split, received splits ${
          JSON.stringify(Object.keys(files))
        }`,
      );
    }
    return test.length
      ? withTest(train, test)
      : { kind: "classify", ...splitItems(train, split), classes };
  }
  if (await isDir(spec)) {
    const { train, test } = await readAclImdb(spec);
    return withTest(train, test);
  }
  return {
    kind: "classify",
    ...splitItems(await readLabeledFile(spec, columns), split),
    classes,
  };
}

/**
 * Loads language-modelling data: Moby Dick (split by chapter) or a UTF-8 text
 * file (split into 1000-line pieces, then by seed).
 * @param c the config.
 * @param tokenizer the tokenizer.
 * @returns token streams.
 */
export async function loadLmData(
  c: TrainConfig,
  tokenizer: TextTokenizer,
): Promise<LmData> {
  const spec = c.data === "auto" ? "moby" : c.data;
  let docs: string[];
  if (spec === "moby") docs = mobyDick();
  else {
    const text = decodeUtf8(await Deno.readFile(spec), spec);
    if (text.trim() === "") {
      throw new Error(`${spec}: expected text, received an empty file`);
    }
    const lines = text.split("\n");
    docs = [];
    for (let i = 0; i < lines.length; i += 1000) {
      docs.push(lines.slice(i, i + 1000).join("\n"));
    }
  }
  const s = splitItems(docs, {
    validation: c.validation,
    test: c.test,
    seed: c.seed,
  });
  for (const part of ["validation", "test"] as const) {
    if (s[part].length === 0) s[part] = s.train.splice(-1, 1);
    if (s.train.length === 0) {
      throw new Error(`${spec}: too little text to hold out ${part} data`);
    }
  }
  return {
    kind: "lm",
    train: tokenStream(s.train, tokenizer),
    validation: tokenStream(s.validation, tokenizer),
    test: tokenStream(s.test, tokenizer),
  };
}
