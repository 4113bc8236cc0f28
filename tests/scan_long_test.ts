/**
 * A long sequence through selectiveScan on wasm: l = 16384, dIn = 128,
 * n = 16 runs in segments (bounded intermediates), matches the float64 oracle
 * (relative error ≤ 1e-5 for y and the final state) and leaks no tensor.
 * The 128 channels are 16 copies of 8 random ones (channels never mix in the
 * scan), so the oracle runs on 8.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import { selectiveScan } from "../kernels/selective_scan.ts";
import { referenceScan } from "../kernels/scan_reference.ts";
import type { ScanInputs } from "../kernels/scan_types.ts";
import { makeCase, relError, toTensors } from "../kernels/_scan_test_data.ts";

Deno.test("selectiveScan at l = 16384, dIn = 128 matches the oracle (wasm)", async () => {
  await setBackend("wasm");
  const [l, dIn, n, copies] = [16384, 8, 16, 16];
  const p = makeCase({ b: 1, l, dIn, n, full: true }, 2);
  const want = referenceScan(p);
  const small = toTensors(p);
  const wide = (t: tf.Tensor | undefined, reps: number[]) =>
    t ? tf.tile(t, reps) : undefined;
  const inputs = {
    ...small,
    u: wide(small.u, [1, 1, copies]),
    delta: wide(small.delta, [1, 1, copies]),
    z: wide(small.z, [1, 1, copies]),
    A: wide(small.A, [copies, 1]),
    D: wide(small.D, [copies]),
    deltaBias: wide(small.deltaBias, [copies]),
    initialState: wide(small.initialState, [1, copies, 1]),
  } as ScanInputs;
  const before = tf.memory().numTensors;
  const { y, state } = selectiveScan(inputs, {
    impl: "chunked",
    returnState: true,
  });
  assert.equal(tf.memory().numTensors, before + 2, "tensors leaked");
  // (1, l, copies·dIn) and (1, copies·dIn, n): channel d is d mod dIn
  const wantY = Float64Array.from(
    { length: l * copies * dIn },
    (_, i) => want.y[Math.floor(i / (copies * dIn)) * dIn + (i % dIn)],
  );
  const wantS = Float64Array.from(
    { length: copies * dIn * n },
    (_, i) => want.state[i % (dIn * n)],
  );
  const errY = relError(await y.data(), wantY);
  const errS = relError(await state!.data(), wantS);
  assert.ok(errY <= 1e-5, `y: relative error ${errY} > 1e-5`);
  assert.ok(errS <= 1e-5, `state: relative error ${errS} > 1e-5`);
});
