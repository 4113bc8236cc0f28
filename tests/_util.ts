/**
 * Helpers shared by the integration tests.
 *
 * @module
 */
import { type BackendName, hasWebGPU } from "../kernels/backend.ts";
import { readSafetensors } from "../models/safetensors.ts";

/** Folder of the Hugging Face fixtures. */
export const FIXTURES =
  new URL("./fixtures/hf-mamba/", import.meta.url).pathname;

/** Relative error allowed against Hugging Face's float64 logits. */
export const PARITY_TOLERANCE = 1e-5;

/** Fixture names. */
export const FIXTURE_NAMES = ["tiny", "long"] as const;

/** Every backend, with whether it can run here (webgpu needs an adapter). */
export async function backends(): Promise<
  { name: BackendName; available: boolean }[]
> {
  const gpu = await hasWebGPU();
  return [
    { name: "cpu", available: true },
    { name: "wasm", available: true },
    { name: "webgpu", available: gpu },
  ];
}

/** The expected outputs Hugging Face computed for a fixture. */
export interface Expected {
  inputIds: number[][];
  logits: Float32Array;
  logitsF64: Float32Array;
  logitsShape: number[];
  promptIds: number[][];
  greedyIds: number[][];
}

function rows(data: ArrayLike<number | bigint>, shape: number[]): number[][] {
  const [b, l] = shape;
  return Array.from(
    { length: b },
    (_, i) => Array.from({ length: l }, (_, j) => Number(data[i * l + j])),
  );
}

/** Reads `expected.safetensors` of a fixture (in `folder`, default {@linkcode FIXTURES}). */
export async function readExpected(
  name: string,
  folder: string = FIXTURES,
): Promise<Expected> {
  const { tensors } = await readSafetensors(
    `${folder}${name}/expected.safetensors`,
  );
  const get = (key: string) => {
    const t = tensors.get(key);
    if (!t) throw new Error(`fixture ${name}: missing ${key}`);
    return t;
  };
  return {
    inputIds: rows(get("input_ids").data as Int32Array, get("input_ids").shape),
    logits: get("logits").data as Float32Array,
    logitsF64: get("logits_f64").data as Float32Array,
    logitsShape: get("logits").shape,
    promptIds: rows(
      get("prompt_ids").data as Int32Array,
      get("prompt_ids").shape,
    ),
    greedyIds: rows(
      get("greedy_ids").data as Int32Array,
      get("greedy_ids").shape,
    ),
  };
}

/** ‖a − b‖ / ‖b‖ in float64. */
export function relativeError(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): number {
  if (a.length !== b.length) {
    throw new Error(`length ${a.length} ≠ ${b.length}`);
  }
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num / den);
}
