/**
 * Where the seed's cumsum scan fails and the chunked scan does not: at
 * freshly-initialised Δ (dt log-uniform in [1e-3, 1e-1] through softplus,
 * A_log = log(1..n)), relative error against the float64 oracle. The seed is
 * right at small l (so it is implemented as written) and wrong by l = 256
 * (exp(Σ_{k>t} Δ_k A) underflows in float32 and the +1e-12 guard takes
 * over); chunked stays at round-off. On cpu, wasm and webgpu.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import type { BackendName } from "../kernels/backend.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import { referenceScan } from "../kernels/scan_reference.ts";
import type { ScanImpl } from "../kernels/scan_types.ts";
import { makeCase, relError, toTensors } from "../kernels/_scan_test_data.ts";

const gpu = await hasWebGPU();

async function errorOf(impl: ScanImpl, l: number): Promise<number> {
  const p = makeCase({ b: 1, l, dIn: 16, n: 16, full: true, regime: "init" });
  p.initialState = undefined; // the seed starts from zeros
  const want = referenceScan(p);
  const inputs = toTensors(p);
  const { y } = selectiveScan(inputs, { impl });
  const err = relError(await y.data(), want.y);
  tf.dispose([
    y,
    ...Object.values(inputs).filter((v) => v instanceof tf.Tensor),
  ]);
  return err;
}

for (const backend of ["cpu", "wasm", "webgpu"] as BackendName[]) {
  Deno.test({
    name: `seed fails at l = 256 where chunked holds (${backend})`,
    ignore: backend === "webgpu" && !gpu,
    fn: async () => {
      await setBackend(backend);
      const seed16 = await errorOf("seed", 16);
      assert.ok(
        seed16 <= 1e-4,
        `seed at l = 16: relative error ${seed16} > 1e-4`,
      );
      const seed256 = await errorOf("seed", 256);
      assert.ok(
        seed256 > 1e-2,
        `seed at l = 256: relative error ${seed256} ≤ 1e-2`,
      );
      const chunked256 = await errorOf("chunked", 256);
      assert.ok(
        chunked256 <= 1e-5,
        `chunked at l = 256: relative error ${chunked256} > 1e-5`,
      );
    },
  });
}
