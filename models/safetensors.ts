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
  type Dtype,
  DTYPES,
  type TensorData,
} from "./_float16.ts";
import {
  fail,
  MAX_HEADER_BYTES,
  parseHeader,
  readHeaderLength,
  type SafeTensorInfo,
  SafetensorsError,
  type SafetensorsHeader,
} from "./_safetensors_header.ts";
import {
  type SafeTensorInput,
  serializeSafetensors,
  type WriteOptions,
  writeSafetensors,
} from "./_safetensors_write.ts";

export { type Dtype, DTYPES, type TensorData };
export {
  MAX_HEADER_BYTES,
  type SafeTensorInfo,
  SafetensorsError,
  type SafetensorsHeader,
};
export {
  type SafeTensorInput,
  serializeSafetensors,
  type WriteOptions,
  writeSafetensors,
};

/** One tensor as read from a file: the file's dtype, its shape, decoded data. */
export interface SafeTensor {
  /** Element type in the file (F16/BF16 data is still a Float32Array). */
  dtype: Dtype;
  /** Dimensions, outermost first; `[]` is a scalar. */
  shape: number[];
  /** Row-major values, `product(shape)` of them. */
  data: TensorData;
}

/** Result of {@linkcode parseSafetensors} / {@linkcode readSafetensors}. */
export interface Safetensors {
  /** Tensors by name, in header order. */
  tensors: Map<string, SafeTensor>;
  /** The `__metadata__` strings (`{}` when absent). */
  metadata: Record<string, string>;
}

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

// ---------------------------------------------------------------- internals

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
