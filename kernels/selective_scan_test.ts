/**
 * selectiveScan: shape errors name the input, dispatch reaches each
 * implementation, "reference" on tensors equals the oracle.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";
import {
  hasScanImplementation,
  registerScanImplementation,
  selectiveScan,
} from "./selective_scan.ts";
import { chunkedScan } from "./scan_chunked.ts";
import { referenceScan } from "./scan_reference.ts";
import type { ScanImpl, ScanInputs } from "./scan_types.ts";
import { makeCase, relError, toTensors } from "./_scan_test_data.ts";

const gpu = await hasWebGPU();

function full(): ScanInputs {
  return toTensors(makeCase({ b: 2, l: 17, dIn: 3, n: 16, full: true }));
}

Deno.test("selectiveScan names the input whose shape is wrong", async () => {
  await setBackend("cpu");
  const ok = full();
  const cases: [Partial<ScanInputs>, string][] = [
    [
      { B: tf.zeros([2, 16, 16]) as tf.Tensor3D },
      "selectiveScan: B: expected shape [2, 17, 16] (b, l, n), received [2, 16, 16]",
    ],
    [
      { C: tf.zeros([2, 17, 8]) as tf.Tensor3D },
      "selectiveScan: C: expected shape [2, 17, 16] (b, l, n), received [2, 17, 8]",
    ],
    [
      { delta: tf.zeros([2, 17]) as unknown as tf.Tensor3D },
      "selectiveScan: delta: expected shape [2, 17, 3] (b, l, dIn), received [2, 17]",
    ],
    [
      { A: tf.zeros([4, 16]) as tf.Tensor2D },
      "selectiveScan: A: expected shape [3, n] (dIn, n) with n ≥ 1, received [4, 16]",
    ],
    [
      { D: tf.zeros([4]) as tf.Tensor1D },
      "selectiveScan: D: expected shape [3] (dIn), received [4]",
    ],
    [
      { z: tf.zeros([1, 17, 3]) as tf.Tensor3D },
      "selectiveScan: z: expected shape [2, 17, 3] (b, l, dIn), received [1, 17, 3]",
    ],
    [
      { deltaBias: tf.zeros([3, 1]) as unknown as tf.Tensor1D },
      "selectiveScan: deltaBias: expected shape [3] (dIn), received [3, 1]",
    ],
    [
      { initialState: tf.zeros([2, 16, 3]) as tf.Tensor3D },
      "selectiveScan: initialState: expected shape [2, 3, 16] (b, dIn, n), received [2, 16, 3]",
    ],
    [
      { u: tf.zeros([2, 0, 3]) as tf.Tensor3D },
      "selectiveScan: u: expected a shape [b, l, dIn] with every size ≥ 1, received [2, 0, 3]",
    ],
    [
      { B: tf.zeros([2, 17, 16], "int32") as tf.Tensor3D },
      "selectiveScan: B: expected dtype float32, received int32",
    ],
  ];
  for (const [patch, message] of cases) {
    assert.throws(() => selectiveScan({ ...ok, ...patch }), { message });
  }
  assert.throws(
    () => selectiveScan(ok, { impl: "fast" as ScanImpl }),
    /impl: expected one of "auto", "reference", "chunked", "seed", "webgpu", received "fast"/,
  );
});

Deno.test("selectiveScan dispatches: reference, auto, chunked, seed on cpu", async () => {
  await setBackend("cpu");
  const p = makeCase({ b: 2, l: 17, dIn: 3, n: 4, full: true });
  const want = referenceScan(p);
  const inputs = toTensors(p);
  const ref = selectiveScan(inputs, { impl: "reference", returnState: true });
  assert.ok(relError(await ref.y.data(), want.y) <= 1e-6);
  assert.ok(relError(await ref.state!.data(), want.state) <= 1e-6);
  for (const impl of ["auto", "chunked"] as ScanImpl[]) {
    const { y, state } = selectiveScan(inputs, { impl, returnState: true });
    assert.ok(relError(await y.data(), want.y) <= 1e-5, impl);
    assert.ok(relError(await state!.data(), want.state) <= 1e-5, impl);
  }
  assert.equal(selectiveScan(inputs).state, undefined);
  assert.throws(
    () => selectiveScan(inputs, { impl: "seed" }),
    /seedScan: initialState: expected none/,
  );
  const seed = selectiveScan({ ...inputs, initialState: undefined }, {
    impl: "seed",
  });
  assert.deepEqual(seed.y.shape, [2, 17, 3]);
});

Deno.test({
  name: 'selectiveScan impl "webgpu" unregistered is a clear error',
  ignore: hasScanImplementation("webgpu"),
  fn: async () => {
    await setBackend("cpu");
    assert.throws(
      () => selectiveScan(full(), { impl: "webgpu" }),
      /impl "webgpu": expected a registered implementation/,
    );
    assert.throws(
      () => registerScanImplementation("metal" as "webgpu", chunkedScan),
      /name: expected "webgpu", received "metal"/,
    );
  },
});

Deno.test({
  name: '"auto" uses the registered webgpu implementation on webgpu only',
  ignore: !gpu || hasScanImplementation("webgpu"),
  fn: async () => {
    let calls = 0;
    registerScanImplementation("webgpu", (inputs, options) => {
      calls++;
      return chunkedScan(inputs, options);
    });
    await setBackend("cpu");
    const small = toTensors(makeCase({ b: 1, l: 4, dIn: 2, n: 2 }));
    selectiveScan(small);
    assert.equal(calls, 0);
    await setBackend("webgpu");
    const onGpu = toTensors(makeCase({ b: 1, l: 4, dIn: 2, n: 2 }));
    selectiveScan(onGpu);
    selectiveScan(onGpu, { impl: "webgpu" });
    assert.equal(calls, 2);
  },
});

Deno.test({
  name: 'selectiveScan impl "reference" on webgpu points to referenceScan',
  ignore: !gpu,
  fn: async () => {
    await setBackend("webgpu");
    const onGpu = toTensors(makeCase({ b: 1, l: 4, dIn: 2, n: 2 }));
    assert.throws(
      () => selectiveScan(onGpu, { impl: "reference" }),
      /impl "reference": expected the cpu or wasm backend .* call referenceScan on arrays/,
    );
  },
});
