/**
 * Private helpers: element codecs of safetensors dtypes, little-endian bytes
 * <-> typed arrays (assumes a little-endian host, as every Deno target is).
 *
 * IEEE half (F16) and bfloat16 (BF16) <-> float32 are done on
 * the bit patterns so that every value, subnormals, infinities and NaN
 * payloads included, converts exactly (widening) or with round-to-nearest-even
 * (narrowing). Narrowing keeps a NaN a NaN: when the payload bits that survive
 * are all zero, the quiet bit is set instead of turning it into infinity.
 *
 * Reference: IEEE 754-2008 binary16; bfloat16 as the top 16 bits of binary32
 * (Google Brain; `torch.bfloat16`).
 *
 * @module
 */

/**
 * Widen one F16 bit pattern to F32 bits (exact).
 * @param h 16-bit F16 pattern.
 * @returns 32-bit F32 pattern, as an unsigned number.
 */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf/nan
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: mant * 2^-24; normalise so the leading 1 sits at bit 10.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/**
 * Narrow F32 bits to F16 bits, round-to-nearest-even; overflow gives ±inf.
 * @param x 32-bit F32 pattern.
 * @returns 16-bit F16 pattern.
 */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m);
  }
  const e = exp - 112; // F16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // F16 subnormal: value = full * 2^(exp-150) = m * 2^-24, m = full >> shift.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal
    const full = mant | 0x800000;
    const m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const up = rem > half || (rem === half && (m & 1) === 1);
    return sign | (m + (up ? 1 : 0)); // m = 1024 is the smallest normal: right
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1);
  return sign | (h + (up ? 1 : 0)); // carry into the exponent is right, up to inf
}

/**
 * Narrow F32 bits to BF16 bits, round-to-nearest-even; overflow gives ±inf.
 * @param x 32-bit F32 pattern.
 * @returns 16-bit BF16 pattern.
 */
export function f32BitsToBf16Bits(x: number): number {
  const h = x >>> 16;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    return (h & 0x7f) === 0 ? h | 0x40 : h; // NaN stays NaN
  }
  const rem = x & 0xffff;
  const up = rem > 0x8000 || (rem === 0x8000 && (h & 1) === 1);
  return (h + (up ? 1 : 0)) & 0xffff;
}

/**
 * Decode little-endian F16 or BF16 bytes to a Float32Array (exact).
 * @param bytes raw bytes, length a multiple of 2, any alignment.
 * @param kind "F16" or "BF16".
 * @returns one float per 2 bytes.
 */
export function halfBytesToF32(
  bytes: Uint8Array,
  kind: "F16" | "BF16",
): Float32Array {
  const n = bytes.length >>> 1;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    out[i] = kind === "F16" ? f16BitsToF32Bits(h) : (h << 16) >>> 0;
  }
  return new Float32Array(out.buffer); // reinterpret: NaN payloads kept
}

/**
 * Encode a Float32Array as little-endian F16 or BF16 bytes (round-to-nearest-even).
 * @param data floats to narrow.
 * @param kind "F16" or "BF16".
 * @returns 2 bytes per float.
 */
export function f32ToHalfBytes(
  data: Float32Array,
  kind: "F16" | "BF16",
): Uint8Array<ArrayBuffer> {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint8Array(2 * data.length);
  for (let i = 0; i < bits.length; i++) {
    const h = kind === "F16"
      ? f32BitsToF16Bits(bits[i])
      : f32BitsToBf16Bits(bits[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** Element types read and written, as spelled in a safetensors header. */
export const DTYPES = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I8",
  "U8",
  "BOOL",
] as const;

/** One of {@linkcode DTYPES}. */
export type Dtype = (typeof DTYPES)[number];

/**
 * Decoded tensor data: Float64Array, Float32Array (F32, F16, BF16),
 * BigInt64Array, Int32Array, Int8Array or Uint8Array (U8, BOOL as 0/1).
 */
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array;

// Array type per dtype; F16/BF16 are stored as 2 bytes and widened to f32.
const ARRAY: Record<Dtype, {
  new (buffer: ArrayBuffer): TensorData;
  readonly BYTES_PER_ELEMENT: number;
}> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Float32Array,
  BF16: Float32Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/**
 * Bytes per element in the file.
 * @param dtype element type.
 * @returns 1, 2, 4 or 8.
 */
export function itemSize(dtype: Dtype): number {
  return dtype === "F16" || dtype === "BF16"
    ? 2
    : ARRAY[dtype].BYTES_PER_ELEMENT;
}

/**
 * Reinterpret (or widen, for F16/BF16) a tensor's little-endian bytes.
 * @param raw an aligned copy (byteOffset 0) the result may keep as its buffer.
 * @param dtype element type; `raw.length` a multiple of its item size.
 * @returns the decoded array.
 */
export function decodeElements(
  raw: Uint8Array<ArrayBuffer>,
  dtype: Dtype,
): TensorData {
  if (dtype === "F16" || dtype === "BF16") return halfBytesToF32(raw, dtype);
  return new ARRAY[dtype](raw.buffer);
}

/**
 * Little-endian bytes of `data` as `dtype`.
 * @param data values; must be the array type of `dtype` (BOOL: 0/1 bytes).
 * @param dtype element type to write.
 * @returns the bytes (a view of `data` unless narrowed), or undefined when
 *   `data` does not fit `dtype`.
 */
export function encodeElements(
  data: TensorData,
  dtype: Dtype,
): Uint8Array | undefined {
  if (!(data instanceof ARRAY[dtype])) return undefined;
  if (dtype === "BOOL" && (data as Uint8Array).some((v) => v > 1)) {
    return undefined;
  }
  if (dtype === "F16" || dtype === "BF16") {
    return f32ToHalfBytes(data as Float32Array, dtype);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The dtype an array is written as when none is given.
 * @param data values.
 * @param float dtype for a Float32Array (F32, F16 or BF16).
 * @returns the dtype.
 */
export function defaultDtype(data: TensorData, float: Dtype): Dtype {
  if (data instanceof Float32Array) return float;
  const order: Dtype[] = ["F64", "I64", "I32", "I8", "U8"];
  return order.find((d) => data instanceof ARRAY[d]) ?? "U8";
}
