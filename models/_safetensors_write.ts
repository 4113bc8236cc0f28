/**
 * Private: safetensors writing — tensors sorted by name, the header padded
 * with spaces to a multiple of 8, and an atomic write (temp file, sync,
 * rename).
 *
 * Reference: huggingface/safetensors `safetensors/src/tensor.rs`
 * (`serialize`).
 *
 * @module
 */
import {
  defaultDtype,
  type Dtype,
  encodeElements,
  type TensorData,
} from "./_float16.ts";
import { checkMetadata, checkShape, fail } from "./_safetensors_header.ts";

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

/** Options of {@linkcode serializeSafetensors} and {@linkcode writeSafetensors}. */
export interface WriteOptions {
  /** `__metadata__` strings (e.g. `{ format: "pt" }`). */
  metadata?: Record<string, string>;
  /** Dtype for Float32Array inputs without their own dtype (default "F32"). */
  float?: "F32" | "F16" | "BF16";
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
