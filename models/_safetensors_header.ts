/**
 * Private: the safetensors header — the u64 length prefix and the JSON
 * entries, every rule checked (dtype, shape, `data_offsets` spans, tensors
 * tiling the data section), and the error every check throws.
 *
 * Reference: huggingface/safetensors `safetensors/src/tensor.rs`
 * (`Metadata::validate`, `MAX_HEADER_SIZE`).
 *
 * @module
 */
import { type Dtype, DTYPES, itemSize } from "./_float16.ts";

/** Header entry of one tensor (no data read). */
export interface SafeTensorInfo {
  /** Element type in the file. */
  dtype: Dtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** `[begin, end)` byte range, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** Result of `readSafetensorsHeader` (`safetensors.ts`). */
export interface SafetensorsHeader {
  /** Header entries by name, in header order. */
  tensors: Map<string, SafeTensorInfo>;
  /** The `__metadata__` strings (`{}` when absent). */
  metadata: Record<string, string>;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
}

/** A malformed file or an invalid tensor to write; the message names the source and tensor. */
export class SafetensorsError extends Error {
  /** File path, or "<bytes>" for in-memory input. */
  readonly source: string;
  /** Tensor name the error concerns, when there is one. */
  readonly tensor?: string;
  /**
   * Make an error whose message is `source: tensor "name": detail`.
   * @param source file path or "<bytes>".
   * @param detail what was expected and what came.
   * @param tensor tensor name, if any.
   */
  constructor(source: string, detail: string, tensor?: string) {
    const where = tensor === undefined ? "" : `tensor "${tensor}": `;
    super(`${source}: ${where}${detail}`);
    this.name = "SafetensorsError";
    this.source = source;
    this.tensor = tensor;
  }
}

/** Largest header accepted, as in the official library. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A parsed header without its file position. */
type Header = Omit<SafetensorsHeader, "dataStart">;

/** The u64 header length from `prefix`, checked against the file size. */
export function readHeaderLength(
  prefix: Uint8Array,
  size: number,
  src: string,
): number {
  if (size < 8) {
    fail(src, `file is ${size} bytes, shorter than the 8-byte length prefix`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    fail(src, `header length ${n} is absurd (limit ${MAX_HEADER_BYTES})`);
  }
  if (8 + Number(n) > size) {
    const after = `the ${size - 8} bytes after the length prefix`;
    fail(src, `header length ${n} exceeds ${after} (file: ${size} bytes)`);
  }
  return Number(n);
}

/** Decode and validate the header JSON for a data section of `dataLength`. */
export function parseHeader(
  bytes: Uint8Array,
  dataLength: number,
  src: string,
): Header {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    fail(src, `header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) {
    fail(src, `header: expected a JSON object, received ${kind(json)}`);
  }
  const header: Header = { tensors: new Map(), metadata: {} };
  for (const [name, entry] of Object.entries(json)) {
    if (name === "__metadata__") header.metadata = checkMetadata(entry, src);
    else header.tensors.set(name, checkEntry(entry, src, name));
  }
  checkLayout(header.tensors, dataLength, src);
  return header;
}

/** One header entry: dtype, shape, data_offsets and their byte count. */
function checkEntry(entry: unknown, src: string, name: string): SafeTensorInfo {
  if (!isObject(entry)) {
    fail(src, `expected an object, received ${kind(entry)}`, name);
  }
  const { dtype, shape, data_offsets: offs } = entry;
  if (
    typeof dtype !== "string" || !(DTYPES as readonly string[]).includes(dtype)
  ) {
    const want = `one of ${DTYPES.join(", ")}`;
    fail(src, `dtype: expected ${want}, received ${kind(dtype)}`, name);
  }
  const dims = checkShape(shape, src, name);
  if (
    !Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount) ||
    offs[0] > offs[1]
  ) {
    const want = "[begin, end] integers with 0 <= begin <= end";
    fail(src, `data_offsets: expected ${want}, received ${kind(offs)}`, name);
  }
  const need = dims.reduce((a, d) => a * d, itemSize(dtype as Dtype));
  const span = offs[1] - offs[0];
  if (!Number.isSafeInteger(need) || span !== need) {
    const want = `${dtype} shape [${dims}] needs ${need}`;
    fail(src, `data_offsets [${offs}] span ${span} bytes, ${want}`, name);
  }
  return {
    dtype: dtype as Dtype,
    shape: dims,
    dataOffsets: [offs[0], offs[1]],
  };
}

/** Tensors must lie inside the data section and tile it without gaps. */
function checkLayout(
  tensors: Map<string, SafeTensorInfo>,
  dataLength: number,
  src: string,
) {
  const order = [...tensors].sort(([, a], [, b]) =>
    a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]
  );
  for (const [name, { dataOffsets: [begin, end] }] of order) {
    if (end > dataLength) {
      const why = `data_offsets [${begin}, ${end}] need ${end} bytes of data`;
      fail(src, `file truncated: ${why}, only ${dataLength} present`, name);
    }
  }
  let cursor = 0;
  let previous = "(start of data)";
  for (const [name, { dataOffsets: [begin, end] }] of order) {
    if (begin !== cursor) {
      const what = begin > cursor
        ? `gap of ${begin - cursor} bytes`
        : "overlap";
      const where = `begins at ${begin}, "${previous}" ends at ${cursor}`;
      const rule = "tensors must cover the data section contiguously";
      fail(src, `${what}: data ${where} (${rule})`, name);
    }
    cursor = end;
    previous = name;
  }
  if (cursor !== dataLength) {
    fail(src, `${dataLength - cursor} bytes after the last tensor are unused`);
  }
}

/**
 * @param shape a header's or an input's shape.
 * @returns the dimensions (a copy).
 * @throws {SafetensorsError} unless an array of non-negative integers.
 */
export function checkShape(
  shape: unknown,
  src: string,
  name: string,
): number[] {
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    const want = "an array of non-negative integers";
    fail(src, `shape: expected ${want}, received ${kind(shape)}`, name);
  }
  return [...shape];
}

/**
 * @param value a `__metadata__` value (`null` reads as `{}`).
 * @returns the strings (a copy).
 * @throws {SafetensorsError} unless an object of strings.
 */
export function checkMetadata(
  value: unknown,
  src: string,
): Record<string, string> {
  if (value === null) return {};
  if (!isObject(value)) {
    fail(src, `__metadata__: expected an object, received ${kind(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      const at = `__metadata__["${key}"]`;
      fail(src, `${at}: expected a string, received ${kind(v)}`);
    }
  }
  return { ...value } as Record<string, string>;
}

/** Throws the {@linkcode SafetensorsError} for `source` (and `tensor`). */
export function fail(source: string, detail: string, tensor?: string): never {
  throw new SafetensorsError(source, detail, tensor);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function kind(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "object" && !Array.isArray(v)) return "an object";
  return `${JSON.stringify(v)?.slice(0, 80)}`;
}
