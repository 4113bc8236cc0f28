/**
 * Labelled text from the user's files: the `aclImdb` folder layout, CSV,
 * JSONL and Parquet with configurable text and label columns.
 *
 * Every error names the file, the row (line) and the field: a missing column,
 * an empty text, invalid UTF-8, a label out of range.
 *
 * Reference: Maas et al. 2011, "Learning Word Vectors for Sentiment Analysis"
 * (the aclImdb layout `train|test/pos|neg/*.txt`).
 *
 * @module
 */
import { parquetReadObjects } from "hyparquet";
import { decodeUtf8 } from "./_utf8.ts";
import { parseCsv } from "./_csv.ts";

/** One labelled example. */
export interface LabeledText {
  /** The text. */
  text: string;
  /** Class index in `[0, classes)`. */
  label: number;
}

/** How to read text and labels from tabular files. */
export interface ColumnOptions {
  /** Text column; `"auto"` (default) takes the first of text, review, sentence, content. */
  textColumn?: string;
  /** Label column (default `"label"`). */
  labelColumn?: string;
  /** Number of classes; labels must lie in `[0, classes)` (default 2). */
  classes?: number;
  /** Names of the classes in index order; string labels are looked up here. */
  labelNames?: string[];
}

const AUTO_TEXT = ["text", "review", "sentence", "content"];
const BINARY_NAMES: Record<string, number> = {
  "0": 0,
  "1": 1,
  neg: 0,
  negative: 0,
  ham: 0,
  false: 0,
  pos: 1,
  positive: 1,
  spam: 1,
  true: 1,
};

/**
 * Converts one raw label value to a class index, or throws naming the place.
 * @param value the cell or JSON value.
 * @param where `"<file>: line N: field \"label\""`, for the message.
 * @param options classes and label names.
 * @returns the class index.
 */
export function toLabel(
  value: unknown,
  where: string,
  options: ColumnOptions = {},
): number {
  const classes = options.classes ?? 2;
  const expected = options.labelNames
    ? `one of ${
      JSON.stringify(options.labelNames)
    } or an integer in [0, ${classes})`
    : `an integer in [0, ${classes})`;
  let label: number | undefined;
  if (typeof value === "number" || typeof value === "bigint") {
    label = Number(value);
  } else if (typeof value === "boolean") label = value ? 1 : 0;
  else if (typeof value === "string") {
    const s = value.trim();
    const named = options.labelNames?.indexOf(s) ?? -1;
    if (named >= 0) label = named;
    else if (/^-?\d+(\.0*)?$/.test(s)) label = Number(s);
    else if (classes === 2 && s.toLowerCase() in BINARY_NAMES) {
      label = BINARY_NAMES[s.toLowerCase()];
    }
  }
  if (
    label === undefined || !Number.isInteger(label) || label < 0 ||
    label >= classes
  ) {
    throw new Error(
      `${where}: expected ${expected}, received ${JSON.stringify(value)}`,
    );
  }
  return label;
}

function checkText(value: unknown, where: string): string {
  if (typeof value !== "string") {
    throw new Error(
      `${where}: expected text, received ${JSON.stringify(value)}`,
    );
  }
  if (value.trim() === "") {
    throw new Error(
      `${where}: expected non-empty text, received ${JSON.stringify(value)}`,
    );
  }
  if (value.includes("\uFFFD")) {
    throw new Error(
      `${where}: invalid UTF-8: the text holds U+FFFD replacement characters`,
    );
  }
  return value;
}

function pickColumns(
  columns: string[],
  file: string,
  options: ColumnOptions,
): { text: string; label: string } {
  const label = options.labelColumn ?? "label";
  const wanted = options.textColumn ?? "auto";
  const text = wanted === "auto"
    ? AUTO_TEXT.find((c) => columns.includes(c)) ?? "text"
    : wanted;
  for (const [role, name] of [["text", text], ["label", label]]) {
    if (!columns.includes(name)) {
      throw new Error(
        `${file}: column "${name}": expected a ${role} column named "${name}", received columns ${
          JSON.stringify(columns)
        } (set --data.${role}Column)`,
      );
    }
  }
  return { text, label };
}

/**
 * Reads a CSV file with a header row.
 * @param path the file.
 * @param options columns, classes.
 * @returns the examples.
 */
export async function readCsv(
  path: string,
  options: ColumnOptions = {},
): Promise<LabeledText[]> {
  const rows = parseCsv(decodeUtf8(await Deno.readFile(path), path), path);
  if (rows.length === 0) {
    throw new Error(`${path}: expected a header row, received an empty file`);
  }
  const header = rows[0].fields;
  const cols = pickColumns(header, path, options);
  const ti = header.indexOf(cols.text);
  const li = header.indexOf(cols.label);
  return rows.slice(1).map(({ fields, line }) => {
    const where = `${path}: line ${line}: field`;
    return {
      text: checkText(fields[ti], `${where} "${cols.text}"`),
      label: toLabel(fields[li], `${where} "${cols.label}"`, options),
    };
  });
}

/**
 * Reads a JSONL file: one JSON object per line.
 * @param path the file.
 * @param options columns, classes.
 * @returns the examples.
 */
export async function readJsonl(
  path: string,
  options: ColumnOptions = {},
): Promise<LabeledText[]> {
  const lines = decodeUtf8(await Deno.readFile(path), path).split("\n");
  const out: LabeledText[] = [];
  let cols: { text: string; label: string } | undefined;
  lines.forEach((raw, i) => {
    if (raw.trim() === "") return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(raw);
    } catch (err) {
      throw new Error(
        `${path}: line ${i + 1}: expected a JSON object, ${
          (err as Error).message
        }`,
      );
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new Error(
        `${path}: line ${i + 1}: expected a JSON object, received ${
          raw.slice(0, 40)
        }`,
      );
    }
    cols ??= pickColumns(Object.keys(row), path, options);
    const where = `${path}: line ${i + 1}: field`;
    if (!(cols.text in row) || !(cols.label in row)) {
      const name = cols.text in row ? cols.label : cols.text;
      throw new Error(
        `${where} "${name}": missing (received keys ${
          JSON.stringify(Object.keys(row))
        })`,
      );
    }
    out.push({
      text: checkText(row[cols.text], `${where} "${cols.text}"`),
      label: toLabel(row[cols.label], `${where} "${cols.label}"`, options),
    });
  });
  return out;
}

/**
 * Reads a Parquet file (plain, snappy; through hyparquet).
 * @param path the file.
 * @param options columns, classes.
 * @returns the examples.
 */
export async function readParquet(
  path: string,
  options: ColumnOptions = {},
): Promise<LabeledText[]> {
  const bytes = await Deno.readFile(path);
  const file = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  );
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file });
  } catch (err) {
    throw new Error(
      `${path}: not a readable Parquet file: ${(err as Error).message}`,
    );
  }
  const cols = pickColumns(
    rows.length ? Object.keys(rows[0]) : [],
    path,
    options,
  );
  return rows.map((row, i) => {
    const where = `${path}: row ${i}: field`;
    return {
      text: checkText(row[cols.text], `${where} "${cols.text}"`),
      label: toLabel(row[cols.label], `${where} "${cols.label}"`, options),
    };
  });
}

/**
 * Reads a CSV, JSONL or Parquet file, chosen by extension.
 * @param path `.csv`, `.jsonl`/`.ndjson` or `.parquet`.
 * @param options columns, classes.
 * @returns the examples.
 */
export async function readLabeledFile(
  path: string,
  options: ColumnOptions = {},
): Promise<LabeledText[]> {
  if (/\.csv$/i.test(path)) return await readCsv(path, options);
  if (/\.(jsonl|ndjson)$/i.test(path)) return readJsonl(path, options);
  if (/\.parquet$/i.test(path)) return readParquet(path, options);
  throw new Error(
    `${path}: expected a .csv, .jsonl, .ndjson or .parquet file, received extension "${
      path.split(".").pop()
    }"`,
  );
}

async function readDirTexts(
  dir: string,
  label: number,
): Promise<LabeledText[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".txt")) names.push(e.name);
  }
  names.sort();
  const out: LabeledText[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    const text = decodeUtf8(await Deno.readFile(path), path);
    out.push({ text: checkText(text, `${path}: field "text"`), label });
  }
  return out;
}

/**
 * Reads the `aclImdb` folder layout: `{train,test}/{neg,pos}/*.txt`
 * (neg → 0, pos → 1; `unsup` is ignored).
 * @param dir the `aclImdb` folder.
 * @returns train and test examples, in file-name order.
 */
export async function readAclImdb(
  dir: string,
): Promise<{ train: LabeledText[]; test: LabeledText[] }> {
  const split = async (name: string) => {
    const base = `${dir}/${name}`;
    for (const sub of ["neg", "pos"]) {
      try {
        await Deno.stat(`${base}/${sub}`);
      } catch {
        throw new Error(
          `${dir}: expected the aclImdb layout with ${name}/${sub}/*.txt, received no ${base}/${sub}`,
        );
      }
    }
    return [
      ...(await readDirTexts(`${base}/neg`, 0)),
      ...(await readDirTexts(`${base}/pos`, 1)),
    ];
  };
  return { train: await split("train"), test: await split("test") };
}
