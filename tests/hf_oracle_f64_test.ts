/**
 * The independent float64 forward (`_hf_oracle_f64.ts`) against the logits
 * Hugging Face computed in float64 for every fixture family: it must agree
 * to 1e-6 relative, and a planted mistake (B and C swapped) must move it
 * beyond 1e-2 — so the fixtures mean what the parity tests assume.
 */
import assert from "node:assert/strict";
import { readSafetensors } from "../models/safetensors.ts";
import {
  forwardF64,
  type OracleOptions,
  readFolderF64,
} from "./_hf_oracle_f64.ts";
import { relativeError } from "./_util.ts";

const ROOT = new URL("./fixtures/", import.meta.url).pathname;
const AGREE = 1e-6;
const PLANTED = 1e-2;

const cases: { dir: string; key: string; options: OracleOptions }[] = [
  { dir: "hf-mamba/tiny", key: "logits_f64", options: {} },
  { dir: "hf-falcon-mamba/tiny", key: "logits_f64", options: {} },
  { dir: "hf-mamba2/tiny", key: "logits_f64", options: {} },
  {
    dir: "hf-mamba2/tiny",
    key: "logits_f64",
    options: { gatedNorm: "transformers" },
  },
  {
    dir: "hf-mamba2/long",
    key: "logits_f64",
    options: { gatedNorm: "transformers" },
  },
  { dir: "hf-mamba2/long", key: "logits_official_f64", options: {} },
];

for (const { dir, key, options } of cases) {
  Deno.test(
    `float64 oracle: ${dir} ${key} (${
      options.gatedNorm ?? "official"
    } norm) ≤ ${AGREE}; B↔C swapped > ${PLANTED}`,
    async () => {
      const folder = await readFolderF64(`${ROOT}${dir}`);
      const { tensors } = await readSafetensors(
        `${ROOT}${dir}/expected.safetensors`,
      );
      const idsT = tensors.get("input_ids")!;
      const [b, l] = idsT.shape;
      const ids = Array.from(
        { length: b },
        (_, i) => Array.from(idsT.data.subarray(i * l, (i + 1) * l), Number),
      );
      const expected = tensors.get(key)!.data as Float32Array;
      const ours = forwardF64(folder, ids, options);
      const err = relativeError(ours.data, expected);
      assert.ok(err <= AGREE, `relative error ${err.toExponential(2)}`);
      const planted = forwardF64(folder, ids, { ...options, swapBC: true });
      const far = relativeError(planted.data, expected);
      assert.ok(far > PLANTED, `planted mistake only ${far.toExponential(2)}`);
    },
  );
}

Deno.test("float64 oracle: on hf-mamba2/long the two norm semantics differ", async () => {
  const dir = `${ROOT}hf-mamba2/long`;
  const { tensors } = await readSafetensors(`${dir}/expected.safetensors`);
  const a = tensors.get("logits_f64")!.data as Float32Array;
  const b = tensors.get("logits_official_f64")!.data as Float32Array;
  assert.ok(relativeError(a, b) > 1e-2);
});
