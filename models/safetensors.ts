/**
 * Safetensors reader and writer, by hand, with every header rule checked.
 *
 * Layout: an 8-byte little-endian u64 header length `N`, `N` bytes of UTF-8
 * JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?:
 * {string: string}}`, then the raw little-endian tensor bytes; offsets count
 * from the end of the header and the tensors must cover the data section
 * exactly, without gaps or overlaps.
 *
 * Reference: huggingface/safetensors `safetensors/src/tensor.rs`
 * (`Metadata::validate`, `serialize`, `MAX_HEADER_SIZE`).
 *
 * @module
 */
import {
  decodeElements,
  defaultDtype,
  type Dtype,
  DTYPES,
  encodeElements,
  itemSize,
  type TensorData,
} from "./_float16.ts";

export { type Dtype, DTYPES, type TensorData };

/** One tensor as read from a file: the file's dtype, its shape, decoded data. */
export interface SafeTensor {
  /** Element type in the file (F16/BF16 data is still a Float32Array). */
  dtype: Dtype;
  /** Dimensions, outermost first; `[]` is a scalar. */
  shape: number[];
  /** Row-major values, `product(shape)` of them. */
  data: TensorData;
}

/** One tensor to write. */
export interface SafeTensorInput {
  /** Row-major values, `product(shape)` of them. */
  data: TensorData;
  /** Dimensions, outermost first. */
  shape: readonly number[];
  /**
   * Element type to write. Default: from the array type (Float32Array → F32
   * or `options.float`, Float64Array → F64, Int32Array → I32, BigInt64Array →
   * I64, Int8Array → I8, Uint8Array → U8). Float32Array may be written as
   * F16/BF16 (round-to-nearest-even), Uint8Array as BOOL (values 0 or 1).
   */
  dtype?: Dtype;
}

/** Header entry of one tensor (no data read). */
export interface SafeTensorInfo {
  /** Element type in the file. */
  dtype: Dtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** `[begin, end)` byte range, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** Result of {@linkcode parseSafetensors} / {@linkcode readSafetensors}. */
export interface Safetensors {
  /** Tensors by name, in header order. */
  tensors: Map<string, SafeTensor>;
  /** The `__metadata__` strings (`{}` when absent). */
  metadata: Record<string, string>;
}

/** Options of {@linkcode serializeSafetensors} and {@linkcode writeSafetensors}. */
export interface WriteOptions {
  /** `__metadata__` strings (e.g. `{ format: "pt" }`). */
  metadata?: Record<string, string>;
  /** Dtype for Float32Array inputs without their own dtype (default "F32"). */
  float?: "F32" | "F16" | "BF16";
}

/** Result of {@linkcode readSafetensorsHeader}. */
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

/**
 * Parse a whole safetensors file held in memory, validating the header.
 * @param bytes the file's bytes (any alignment; tensor data is copied out).
 * @param options `source`: name used in error messages (default "<bytes>").
 * @returns tensors by name (header order) and the `__metadata__` strings.
 * @throws {SafetensorsError} on any malformed header, size or layout.
 * @example
 * ```ts
 * const { tensors } = parseSafetensors(await Deno.readFile("model.safetensors"));
 * tensors.get("backbone.embeddings.weight")?.shape; // [v, d]
 * ```
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: { source?: string } = {},
): Safetensors {
  const source = options.source ?? "<bytes>";
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const data = bytes.subarray(8 + n);
  const header = parseHeader(bytes.subarray(8, 8 + n), data.length, source);
  const tensors = new Map<string, SafeTensor>();
  for (const [name, { dtype, shape, dataOffsets: [b, e] }] of header.tensors) {
    const raw = data.slice(b, e); // a copy: own, aligned buffer
    tensors.set(name, { dtype, shape, data: decodeElements(raw, dtype) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Read and parse a safetensors file.
 * @param path file path (named in every error).
 * @returns tensors by name and the `__metadata__` strings.
 * @throws {SafetensorsError} on a malformed file.
 * @example
 * ```ts
 * const { tensors, metadata } = await readSafetensors("model.safetensors");
 * ```
 */
export async function readSafetensors(path: string): Promise<Safetensors> {
  return parseSafetensors(await Deno.readFile(path), { source: path });
}

/**
 * Read and validate only the header (against the file size), for big files.
 * @param path file path.
 * @returns entries with byte ranges, metadata, and where the data starts.
 * @throws {SafetensorsError} on a malformed header or a truncated file.
 * @example
 * ```ts
 * const { tensors, dataStart } = await readSafetensorsHeader("model.safetensors");
 * ```
 */
export async function readSafetensorsHeader(
  path: string,
): Promise<SafetensorsHeader> {
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const n = readHeaderLength(
    await readAt(file, 0, Math.min(8, size)),
    size,
    path,
  );
  const header = parseHeader(await readAt(file, 8, n), size - 8 - n, path);
  return { ...header, dataStart: 8 + n };
}

/**
 * Get I64 data as plain numbers.
 * @param data I64 values.
 * @param options `name`: used in the error message.
 * @returns the same values as a Float64Array.
 * @throws {SafetensorsError} if a value is outside ±(2^53 - 1).
 * @example
 * ```ts
 * int64ToNumbers(new BigInt64Array([3n, -4n])); // Float64Array [3, -4]
 * ```
 */
export function int64ToNumbers(
  data: BigInt64Array,
  options: { name?: string } = {},
): Float64Array {
  const out = new Float64Array(data.length);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > max || v < -max) {
      fail(
        "int64ToNumbers",
        `element ${i}: expected a safe integer (|x| <= 2^53-1), received ${v}`,
        options.name,
      );
    }
    out[i] = Number(v);
  }
  return out;
}

/**
 * Serialize tensors: sorted by name, header padded with spaces to a multiple of 8.
 * @param tensors name → tensor (a {@linkcode SafeTensor} read earlier works too).
 * @param options metadata, and the dtype for Float32Array inputs.
 * @returns the file's bytes.
 * @throws {SafetensorsError} on a shape/data mismatch or an unwritable dtype.
 * @example
 * ```ts
 * const bytes = serializeSafetensors({ w: { data: new Float32Array(6), shape: [2, 3] } });
 * ```
 */
export function serializeSafetensors(
  tensors: Record<string, SafeTensorInput> | Map<string, SafeTensorInput>,
  options: WriteOptions = {},
): Uint8Array<ArrayBuffer> {
  const source = "serializeSafetensors";
  const entries = tensors instanceof Map
    ? [...tensors]
    : Object.entries(tensors);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = Object.create(null); // "__proto__" is a name
  if (options.metadata !== undefined) {
    header.__metadata__ = checkMetadata(options.metadata, source);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === "__metadata__") {
      fail(source, "the name is reserved for metadata", name);
    }
    const shape = checkShape(t.shape, source, name);
    const count = shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== count) {
      const got = `data has ${t.data.length}`;
      fail(source, `shape [${shape}] needs ${count} elements, ${got}`, name);
    }
    const dtype = t.dtype ?? defaultDtype(t.data, options.float ?? "F32");
    const raw = encodeElements(t.data, dtype);
    if (raw === undefined) {
      const want = dtype === "BOOL" ? "Uint8Array of 0/1" : "matching array";
      const got = t.data.constructor.name;
      fail(
        source,
        `cannot write ${got} as ${dtype} (expected a ${want})`,
        name,
      );
    }
    header[name] = {
      dtype,
      shape,
      data_offsets: [offset, offset + raw.length],
    };
    chunks.push(raw);
    offset += raw.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Write a safetensors file atomically: a temp file in the same folder, synced,
 * then renamed over `path` (the temp file is removed on failure).
 * @param path destination file.
 * @param tensors name → tensor.
 * @param options as for {@linkcode serializeSafetensors}.
 * @example
 * ```ts
 * await writeSafetensors("out.safetensors", { b: { data: new Int32Array([1, 2]), shape: [2] } });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafeTensorInput> | Map<string, SafeTensorInput>,
  options: WriteOptions = {},
): Promise<void> {
  const bytes = serializeSafetensors(tensors, options);
  const tmp = path.replace(
    /[^/]*$/,
    (base) => `.${base}.${crypto.randomUUID()}.tmp`,
  );
  try {
    {
      using file = await Deno.open(tmp, { write: true, createNew: true });
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

// ---------------------------------------------------------------- internals

type Header = Omit<SafetensorsHeader, "dataStart">;

/** The u64 header length from `prefix`, checked against the file size. */
function readHeaderLength(prefix: Uint8Array, size: number, src: string) {
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
function parseHeader(bytes: Uint8Array, dataLength: number, src: string) {
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

function checkShape(shape: unknown, src: string, name: string): number[] {
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    const want = "an array of non-negative integers";
    fail(src, `shape: expected ${want}, received ${kind(shape)}`, name);
  }
  return [...shape];
}

function checkMetadata(value: unknown, src: string): Record<string, string> {
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

function fail(source: string, detail: string, tensor?: string): never {
  throw new SafetensorsError(source, detail, tensor);
}

async function readAt(
  file: Deno.FsFile,
  at: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const r = await file.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return out.subarray(0, got);
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
