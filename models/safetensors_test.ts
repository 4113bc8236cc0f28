import assert from "node:assert/strict";
import {
  DTYPES,
  int64ToNumbers,
  MAX_HEADER_BYTES,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  type SafeTensorInput,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
} from "./safetensors.ts";
import {
  f16BitsToF32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToHalfBytes,
  halfBytesToF32,
} from "./_float16.ts";

const FIXTURE = new URL(
  "../tests/fixtures/hf-mamba/tiny/model.safetensors",
  import.meta.url,
).pathname;

// ------------------------------------------------------------ test helpers

/** A safetensors file from a header (object or raw string) and data bytes. */
function file(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  n?: bigint,
): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Asserts `fn` throws a SafetensorsError whose message has every fragment. */
function throwsWith(fn: () => unknown, ...fragments: string[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(
      err instanceof SafetensorsError,
      `not a SafetensorsError: ${err}`,
    );
    for (const f of fragments) {
      assert.ok(err.message.includes(f), `"${err.message}" lacks "${f}"`);
    }
    return true;
  });
}

const parse = (bytes: Uint8Array) =>
  parseSafetensors(bytes, { source: "t.st" });
const f32 = (shape: number[], begin: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, begin + 4 * shape.reduce((a, d) => a * d, 1)],
});
const bytesOf = (a: ArrayBufferView) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// Float64 oracles: decode a 16-bit pattern, and round a number to the format.
const F16 = { mant: 10, bias: 15, expMax: 31, minExp: -14, max: 65504 };
const BF16 = {
  mant: 7,
  bias: 127,
  expMax: 255,
  minExp: -126,
  max: (2 - 2 ** -7) * 2 ** 127,
};
type Fmt = typeof F16;

function oracleDecode(h: number, f: Fmt): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> f.mant) & f.expMax;
  const mant = h & ((1 << f.mant) - 1);
  if (exp === f.expMax) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (f.minExp - f.mant);
  return sign * 2 ** (exp - f.bias) * (1 + mant / 2 ** f.mant);
}

function oracleRound(x: number, f: Fmt): number {
  if (Number.isNaN(x) || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = a === 0 ? f.minExp : Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, f.minExp) - f.mant);
  const q = a / ulp; // exact: a has 24 significant bits, ulp is a power of 2
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp > f.max ? Infinity : r * ulp;
  return x < 0 || Object.is(x, -0) ? -v : v;
}

const f32FromBits = (bits: number) =>
  new Float32Array(new Uint32Array([bits]).buffer)[0];
const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

// ------------------------------------------------------------ F16 / BF16

Deno.test("f16 and bf16: every 16-bit pattern decodes like the float64 oracle and re-encodes bit-exactly", () => {
  for (const [kind, fmt] of [["F16", F16], ["BF16", BF16]] as const) {
    const all = new Uint16Array(65536).map((_, i) => i);
    const decoded = halfBytesToF32(bytesOf(all), kind);
    for (let h = 0; h < 65536; h++) {
      const want = oracleDecode(h, fmt);
      assert.ok(
        Object.is(decoded[h], want),
        `${kind} ${h}: ${decoded[h]} vs ${want}`,
      );
    }
    const back = new Uint16Array(f32ToHalfBytes(decoded, kind).buffer);
    for (let h = 0; h < 65536; h++) {
      assert.equal(back[h], h, `${kind} pattern ${h} did not round-trip`);
    }
  }
});

Deno.test("f16 and bf16: known values", () => {
  const f16 = (x: number) => f32BitsToF16Bits(f32Bits(x));
  const bf16 = (x: number) => f32BitsToBf16Bits(f32Bits(x));
  assert.equal(f16(1), 0x3c00);
  assert.equal(f16(-2), 0xc000);
  assert.equal(f16(65504), 0x7bff);
  assert.equal(f16(65519), 0x7bff); // below the halfway point to 65536
  assert.equal(f16(65520), 0x7c00); // ties to even: overflows to inf
  assert.equal(f16(6.1e-5), 0x03ff); // subnormal: 1023 * 2^-24
  assert.equal(f16(2 ** -24), 0x0001);
  assert.equal(f16(2 ** -25), 0x0000); // halfway to the smallest subnormal: even
  assert.equal(f16(Infinity), 0x7c00);
  assert.equal(f16(-Infinity), 0xfc00);
  assert.equal(f16(-0), 0x8000);
  assert.equal(f16(0.1), 0x2e66); // 0.0999755859375
  assert.equal(oracleDecode(0x2e66, F16), 0.0999755859375);
  assert.ok(Number.isNaN(f32FromBits(f16BitsToF32Bits(f16(NaN)))));
  assert.equal(bf16(1), 0x3f80);
  assert.equal(bf16(-2), 0xc000);
  assert.equal(bf16(65504), 0x4780); // 65536
  assert.equal(bf16(0.1), 0x3dcd); // 0.10009765625
  assert.equal(bf16(Infinity), 0x7f80);
  assert.ok(Number.isNaN(f32FromBits(bf16(NaN) << 16)));
  // A NaN whose payload lives only in bits that are dropped stays a NaN.
  assert.equal(f32BitsToF16Bits(0x7f800001), 0x7e00);
  assert.equal(f32BitsToBf16Bits(0x7f800001), 0x7fc0);
});

Deno.test("f16 and bf16: round-to-nearest-even matches the float64 oracle on random and halfway floats", () => {
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const inputs: number[] = [];
  for (let i = 0; i < 20000; i++) inputs.push(f32FromBits(rand()));
  for (let i = 0; i < 20000; i++) {
    inputs.push((rand() / 2 ** 32 - 0.5) * 2 ** 17);
  }
  for (let i = 0; i < 5000; i++) inputs.push((rand() / 2 ** 32) * 2 ** -13);
  for (const [h, fmt] of [[0x0000, F16], [0x0000, BF16]] as const) {
    const limit = fmt === F16 ? 0x7bff : 0x7f7f;
    for (let k = h; k < limit; k += fmt === F16 ? 1 : 7) {
      inputs.push((oracleDecode(k, fmt) + oracleDecode(k + 1, fmt)) / 2);
    }
  }
  const data = new Float32Array(inputs);
  for (const [kind, fmt] of [["F16", F16], ["BF16", BF16]] as const) {
    const got = halfBytesToF32(f32ToHalfBytes(data, kind), kind);
    for (let i = 0; i < data.length; i++) {
      const want = oracleRound(data[i], fmt);
      assert.ok(
        Object.is(got[i], want) || (Number.isNaN(got[i]) && Number.isNaN(want)),
        `${kind}(${data[i]}): got ${got[i]}, oracle ${want}`,
      );
    }
  }
});

// ------------------------------------------------------------ round-trips

Deno.test("round-trip: every dtype bit-exactly, header padded to 8 with spaces, names sorted", () => {
  const nanPayload = new Float32Array(new Uint32Array([0x7fc00123]).buffer);
  const tensors: Record<string, SafeTensorInput> = {
    z_f64: { data: new Float64Array([Math.PI, -0, 1e300, NaN]), shape: [2, 2] },
    y_f32: {
      data: new Float32Array([1.5, -0, nanPayload[0], 3e38]),
      shape: [4],
    },
    x_f16: {
      data: new Float32Array([1, -2, 65504, 2 ** -24]),
      shape: [2, 2],
      dtype: "F16",
    },
    w_bf16: {
      data: new Float32Array([1, -2, 2 ** -133, 0.5]),
      shape: [4],
      dtype: "BF16",
    },
    v_i64: {
      data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n]),
      shape: [3],
    },
    u_i32: {
      data: new Int32Array([-(2 ** 31), 2 ** 31 - 1, 7]),
      shape: [3, 1],
    },
    t_i8: { data: new Int8Array([-128, 127, 0]), shape: [3] },
    s_u8: { data: new Uint8Array([0, 255, 9]), shape: [1, 3] },
    r_bool: { data: new Uint8Array([1, 0, 1]), shape: [3], dtype: "BOOL" },
    q_scalar: { data: new Float32Array([42]), shape: [] },
    p_empty: { data: new Int32Array(0), shape: [0, 5] },
  };
  const bytes = serializeSafetensors(tensors, { metadata: { format: "pt" } });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(header, /^\{"__metadata__":\{"format":"pt"\},"p_empty".*\} *$/);
  const { tensors: back, metadata } = parse(bytes);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...back.keys()], Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const b = back.get(name)!;
    assert.deepEqual(b.shape, t.shape, name);
    assert.equal(b.dtype, t.dtype ?? b.dtype, name);
    assert.equal(b.data.constructor, t.data.constructor, name);
    assert.deepEqual(bytesOf(b.data), bytesOf(t.data), `${name} bytes differ`);
  }
  assert.deepEqual(
    new Set([...back.values()].map((t) => t.dtype)),
    new Set(DTYPES),
  );
  // A second pass over what was read reproduces the file byte for byte.
  assert.deepEqual(serializeSafetensors(back, { metadata }), bytes);
});

Deno.test("round-trip: float option writes Float32Array as F16/BF16 unless a tensor names its dtype", () => {
  const bytes = serializeSafetensors({
    a: { data: new Float32Array([0.1]), shape: [1] },
    b: { data: new Float32Array([0.1]), shape: [1], dtype: "F32" },
  }, { float: "BF16" });
  const { tensors } = parse(bytes);
  assert.equal(tensors.get("a")!.dtype, "BF16");
  assert.equal(tensors.get("a")!.data[0], 0.10009765625);
  assert.equal(tensors.get("b")!.dtype, "F32");
  assert.equal(tensors.get("b")!.data[0], Math.fround(0.1));
});

Deno.test("read: the Hugging Face fixture, its header alone, and a byte-identical rewrite", async () => {
  const { tensors, metadata } = await readSafetensors(FIXTURE);
  assert.deepEqual(metadata, { format: "pt" });
  assert.equal(tensors.size, 22);
  const emb = tensors.get("backbone.embeddings.weight")!;
  assert.equal(emb.dtype, "F32");
  assert.deepEqual(emb.shape, [256, 32]);
  assert.ok(emb.data instanceof Float32Array && emb.data.length === 256 * 32);
  assert.ok(emb.data.every(Number.isFinite));
  assert.deepEqual(
    tensors.get("backbone.layers.1.mixer.conv1d.weight")!.shape,
    [64, 1, 4],
  );
  assert.deepEqual(
    tensors.get("backbone.layers.0.mixer.x_proj.weight")!.shape,
    [18, 64],
  );
  const header = await readSafetensorsHeader(FIXTURE);
  assert.equal(header.dataStart, 8 + 2152);
  assert.deepEqual(header.tensors.get("backbone.norm_f.weight"), {
    dtype: "F32",
    shape: [32],
    dataOffsets: [100096, 100224],
  });
  assert.deepEqual(
    serializeSafetensors(tensors, { metadata }),
    await Deno.readFile(FIXTURE),
  );
});

Deno.test("round-trip: odd names (__proto__, non-ASCII, empty) keep their bytes", () => {
  const names = ["__proto__", "λ.weight", "", 'a"b'];
  const input = new Map(
    names.map((n, i) => [n, { data: new Int32Array([i]), shape: [1] }]),
  );
  const bytes = serializeSafetensors(input);
  assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
  const { tensors } = parse(bytes);
  assert.deepEqual([...tensors.keys()].sort(), [...names].sort());
  for (const [i, n] of names.entries()) {
    assert.deepEqual([...tensors.get(n)!.data], [i], n);
  }
});

Deno.test("read: unaligned offsets and an unaligned input view are copied, not rejected", () => {
  const data = new Uint8Array(1 + 8 + 8);
  data[0] = 7;
  new DataView(data.buffer).setFloat32(1, 1.25, true);
  new DataView(data.buffer).setFloat32(5, -3, true);
  new DataView(data.buffer).setBigInt64(9, -5n, true);
  const bytes = file({
    a: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
    b: f32([2], 1),
    c: { dtype: "I64", shape: [1], data_offsets: [9, 17] },
  }, data);
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const { tensors } = parse(shifted.subarray(3));
  assert.deepEqual([...tensors.get("a")!.data], [7]);
  assert.deepEqual([...tensors.get("b")!.data], [1.25, -3]);
  assert.deepEqual([...tensors.get("c")!.data], [-5n]);
});

Deno.test("int64ToNumbers: safe values convert, others throw naming the tensor", () => {
  const ok = new BigInt64Array([0n, -3n, 2n ** 53n - 1n, -(2n ** 53n) + 1n]);
  assert.deepEqual([...int64ToNumbers(ok)], [
    0,
    -3,
    2 ** 53 - 1,
    -(2 ** 53) + 1,
  ]);
  throwsWith(
    () => int64ToNumbers(new BigInt64Array([1n, 2n ** 53n]), { name: "ids" }),
    `tensor "ids"`,
    "element 1",
    "9007199254740992",
  );
});

// ------------------------------------------------------------ atomic write

Deno.test("writeSafetensors: atomic rename leaves no temp file, replaces, and cleans up on failure", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    const t = { w: { data: new Float32Array([1, 2, 3]), shape: [3] } };
    await writeSafetensors(path, t, { metadata: { step: "1" } });
    await writeSafetensors(path, {
      w: { data: new Int32Array([4]), shape: [1] },
    });
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["m.safetensors"]);
    const { tensors, metadata } = await readSafetensors(path);
    assert.deepEqual(metadata, {});
    assert.deepEqual([...tensors.get("w")!.data], [4]);
    // A bad tensor fails before touching the old file.
    await assert.rejects(
      writeSafetensors(path, { w: { data: new Int32Array(2), shape: [3] } }),
      SafetensorsError,
    );
    assert.deepEqual(
      [...(await readSafetensors(path)).tensors.get("w")!.data],
      [4],
    );
    // A rename that fails (target is a non-empty folder) removes the temp file.
    await Deno.mkdir(`${dir}/sub.safetensors/x`, { recursive: true });
    await assert.rejects(writeSafetensors(`${dir}/sub.safetensors`, t));
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(after, ["m.safetensors", "sub.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ------------------------------------------------------------ validation

Deno.test("invalid: truncated copy of the real file names the file and the first cut tensor", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/cut.safetensors`;
    const bytes = await Deno.readFile(FIXTURE);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 1000));
    const want = [
      path,
      `tensor "backbone.layers.1.mixer.x_proj.weight"`,
      "truncated",
      "need 99968 bytes",
      "only 99224 present",
    ];
    await assert.rejects(() => readSafetensors(path), (e: Error) => {
      for (const f of want) {
        assert.ok(e.message.includes(f), `${e.message} / ${f}`);
      }
      return e instanceof SafetensorsError;
    });
    await assert.rejects(() => readSafetensorsHeader(path), SafetensorsError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("invalid: file shorter than 8 bytes", () => {
  throwsWith(() => parse(new Uint8Array(5)), "t.st", "5 bytes", "8-byte");
});

Deno.test("invalid: header length larger than the file, or absurd", () => {
  throwsWith(
    () => parse(file({}, new Uint8Array(0), 100n)),
    "header length 100 exceeds",
    "t.st",
  );
  throwsWith(
    () => parse(file({}, new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n)),
    "absurd",
  );
  throwsWith(
    () => parse(file({}, new Uint8Array(0), 2n ** 64n - 1n)),
    "absurd",
  );
});

Deno.test("invalid: header not UTF-8, not JSON, or not an object", () => {
  const bad = file("{}");
  bad[8] = 0xff;
  throwsWith(() => parse(bad), "t.st", "not valid UTF-8 JSON");
  throwsWith(() => parse(file('{"a": {"dtype": ')), "not valid UTF-8 JSON");
  throwsWith(
    () => parse(file("[1, 2]")),
    "expected a JSON object, received [1,2]",
  );
  throwsWith(
    () => parse(file("null")),
    "expected a JSON object, received null",
  );
});

Deno.test("invalid: entry missing or mistyped fields", () => {
  const d = new Uint8Array(4);
  throwsWith(
    () => parse(file({ a: 3 }, d)),
    `tensor "a"`,
    "expected an object, received 3",
  );
  throwsWith(
    () => parse(file({ a: { shape: [1], data_offsets: [0, 4] } }, d)),
    `"a"`,
    "dtype",
  );
  throwsWith(
    () => parse(file({ a: { dtype: "F32", data_offsets: [0, 4] } }, d)),
    `"a"`,
    "shape",
  );
  throwsWith(
    () => parse(file({ a: { dtype: "F32", shape: [1] } }, d)),
    `"a"`,
    "data_offsets",
  );
  throwsWith(
    () => parse(file({ a: { ...f32([1], 0), dtype: 4 } }, d)),
    "dtype: expected one of",
  );
  throwsWith(
    () => parse(file({ a: { ...f32([1], 0), shape: "1" } }, d)),
    "shape: expected",
  );
});

Deno.test("invalid: unknown dtype", () => {
  const bytes = file({
    w: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] },
  }, new Uint8Array(1));
  throwsWith(() => parse(bytes), `tensor "w"`, `received "F8_E4M3"`, "F32");
});

Deno.test("invalid: negative or non-integer shape dims", () => {
  const d = new Uint8Array(4);
  throwsWith(
    () => parse(file({ w: { ...f32([1], 0), shape: [-1] } }, d)),
    `"w"`,
    "[-1]",
  );
  throwsWith(
    () => parse(file({ w: { ...f32([1], 0), shape: [1.5] } }, d)),
    `"w"`,
    "[1.5]",
  );
});

Deno.test("invalid: data_offsets not [begin, end] integers with begin <= end", () => {
  const d = new Uint8Array(8);
  for (const offs of [[4, 0], [0], [0, 4, 8], [0.5, 4.5], [-4, 0], "0,4"]) {
    const bytes = file({ w: { ...f32([1], 0), data_offsets: offs } }, d);
    throwsWith(
      () => parse(bytes),
      `tensor "w"`,
      "data_offsets: expected [begin, end]",
    );
  }
});

Deno.test("invalid: byte length differs from product(shape) * itemsize", () => {
  const bytes = file({
    w: { dtype: "F16", shape: [2, 3], data_offsets: [0, 8] },
  }, new Uint8Array(8));
  throwsWith(
    () => parse(bytes),
    `tensor "w"`,
    "span 8 bytes",
    "F16 shape [2,3] needs 12",
  );
});

Deno.test("invalid: overlapping regions, gaps, and unused trailing bytes", () => {
  const d = new Uint8Array(12);
  throwsWith(
    () => parse(file({ a: f32([2], 0), b: f32([1], 4) }, d)),
    "overlap",
    `"b"`,
    `"a" ends at 8`,
  );
  throwsWith(
    () => parse(file({ a: f32([1], 0), b: f32([1], 8) }, d)),
    "gap of 4 bytes",
    `"b"`,
  );
  throwsWith(
    () => parse(file({ a: f32([1], 4) }, d.subarray(0, 8))),
    "gap of 4",
    "(start of data)",
  );
  throwsWith(
    () => parse(file({ a: f32([2], 0) }, d)),
    "4 bytes after the last tensor",
  );
});

Deno.test("invalid: __metadata__ values must be strings", () => {
  throwsWith(
    () => parse(file({ __metadata__: { step: 3 } })),
    "t.st",
    `__metadata__["step"]`,
    "received 3",
  );
  throwsWith(
    () => parse(file({ __metadata__: [] })),
    "__metadata__: expected an object",
  );
  assert.throws(
    () => serializeSafetensors({}, { metadata: { a: 1 as unknown as string } }),
    SafetensorsError,
  );
});

Deno.test("invalid writes: shape/data mismatch, wrong array type, BOOL values, reserved name", () => {
  const w = (t: SafeTensorInput) => () => serializeSafetensors({ w: t });
  throwsWith(
    w({ data: new Float32Array(5), shape: [2, 3] }),
    `tensor "w"`,
    "needs 6 elements, data has 5",
  );
  throwsWith(
    w({ data: new Float32Array(1), shape: [-1] }),
    `tensor "w"`,
    "shape",
  );
  throwsWith(
    w({ data: new Int32Array(1), shape: [1], dtype: "F32" }),
    "cannot write Int32Array as F32",
  );
  throwsWith(
    w({ data: new Float32Array(1), shape: [1], dtype: "I64" }),
    "cannot write Float32Array as I64",
  );
  throwsWith(
    w({ data: new Uint8Array([2]), shape: [1], dtype: "BOOL" }),
    "Uint8Array of 0/1",
  );
  throwsWith(
    () =>
      serializeSafetensors({
        __metadata__: { data: new Uint8Array(0), shape: [0] },
      }),
    "reserved",
  );
});

Deno.test("invalid: random corruptions only ever throw SafetensorsError", () => {
  const good = serializeSafetensors({
    a: { data: new Float32Array([1, 2, 3]), shape: [3], dtype: "F16" },
    b: { data: new BigInt64Array([5n]), shape: [1] },
    c: { data: new Int32Array([1, 2]), shape: [2, 1] },
  });
  let seed = 7;
  const rand = (k: number) =>
    ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % k;
  const digits = "0123456789-.e";
  let parsed = 0;
  for (let i = 0; i < 3000; i++) {
    const bad = good.slice(0, good.length - (i % 5 === 0 ? rand(20) : 0));
    for (let j = 0; j <= rand(3); j++) {
      const at = rand(bad.length);
      // Mostly digits inside the header (offsets, shapes), sometimes any byte.
      bad[at] = i % 3 ? digits.charCodeAt(rand(digits.length)) : rand(256);
    }
    try {
      parse(bad);
      parsed++;
    } catch (err) {
      assert.ok(err instanceof SafetensorsError, `mutation ${i}: ${err}`);
    }
  }
  assert.ok(parsed > 0 && parsed < 3000, `parsed ${parsed} of 3000`);
});
