/**
 * chunkedScan against the float64 oracle: forward (y and final state,
 * relative L2 error ≤ 1e-5) at lengths from 1 to 4096, and the gradient of
 * every input through tf.grads (≤ 1e-3), on cpu, wasm and webgpu.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";
import type { BackendName } from "./backend.ts";
import { chunkedScan } from "./scan_chunked.ts";
import { GRAD_OF, referenceScan, referenceScanGrad } from "./scan_reference.ts";
import { SCAN_INPUT_NAMES, type ScanInputs } from "./scan_types.ts";
import {
  type CaseSpec,
  makeCase,
  relError,
  rng,
  toTensors,
} from "./_scan_test_data.ts";

const gpu = await hasWebGPU();

async function checkForward(
  spec: CaseSpec,
  options: { chunkSize?: number; segmentLength?: number } = {},
  seed = 1,
): Promise<void> {
  const p = makeCase(spec, seed);
  const want = referenceScan(p);
  const inputs = toTensors(p);
  const { y, state } = chunkedScan(inputs, { ...options, returnState: true });
  const label = `${JSON.stringify(spec)} ${
    JSON.stringify(options)
  } on ${tf.getBackend()}`;
  const errY = relError(await y.data(), want.y);
  const errS = relError(await state!.data(), want.state);
  assert.ok(errY <= 1e-5, `y: relative error ${errY} > 1e-5 at ${label}`);
  assert.ok(errS <= 1e-5, `state: relative error ${errS} > 1e-5 at ${label}`);
  tf.dispose([
    y,
    state!,
    ...Object.values(inputs).filter((v) => v instanceof tf.Tensor),
  ]);
}

for (const backend of ["cpu", "wasm"] as BackendName[]) {
  Deno.test(`chunkedScan matches the float64 oracle at every length (${backend})`, async () => {
    await setBackend(backend);
    for (const l of [1, 2, 17, 64, 255, 256, 1000, 4096]) {
      await checkForward(
        { b: l > 1000 ? 1 : 2, l, dIn: 8, n: 8, full: true },
        {},
        l,
      );
    }
    // no optional inputs; odd chunk sizes
    await checkForward({ b: 2, l: 100, dIn: 4, n: 16 }, { chunkSize: 3 });
    await checkForward({ b: 1, l: 300, dIn: 16, n: 4 }, { chunkSize: 32 });
  });

  Deno.test(`chunkedScan carries the state across segments (${backend})`, async () => {
    await setBackend(backend);
    await checkForward({ b: 2, l: 1000, dIn: 4, n: 4, full: true }, {
      segmentLength: 96,
    });
    await checkForward({ b: 1, l: 257, dIn: 4, n: 4 }, { segmentLength: 1 });
  });
}

Deno.test({
  name: "chunkedScan matches the float64 oracle (webgpu)",
  ignore: !gpu,
  fn: async () => {
    await setBackend("webgpu");
    for (const l of [1, 2, 17, 64, 255, 256, 1000, 4096]) {
      await checkForward({ b: 2, l, dIn: 8, n: 8, full: true }, {}, l);
    }
  },
});

/** Every gradient of sum(y·gy) + sum(state·gs) against referenceScanGrad. */
async function checkGrads(spec: CaseSpec, tol: number): Promise<void> {
  const p = makeCase(spec, 7);
  const r = rng(99);
  const gy = Float32Array.from({ length: p.b * p.l * p.dIn }, () => r() - 0.5);
  const gs = Float32Array.from({ length: p.b * p.dIn * p.n }, () => r() - 0.5);
  const want = referenceScanGrad(p, gy, gs);
  const inputs = toTensors(p);
  const names = SCAN_INPUT_NAMES;
  const xs = names.map((k) => inputs[k] as tf.Tensor);
  const gyT = tf.tensor3d(gy, [p.b, p.l, p.dIn]);
  const gsT = tf.tensor3d(gs, [p.b, p.dIn, p.n]);
  const grads = tf.grads((...args: tf.Tensor[]) => {
    const given = Object.fromEntries(names.map((k, i) => [k, args[i]]));
    const { y, state } = chunkedScan(
      { ...given, deltaSoftplus: true } as unknown as ScanInputs,
      { returnState: true },
    );
    return tf.add(tf.sum(tf.mul(y, gyT)), tf.sum(tf.mul(state!, gsT)));
  })(xs);
  for (let i = 0; i < names.length; i++) {
    const err = relError(await grads[i].data(), want[GRAD_OF[names[i]]]!);
    assert.ok(
      err <= tol,
      `d${names[i]}: relative error ${err} > ${tol} on ${tf.getBackend()}`,
    );
  }
  tf.dispose([...grads, ...xs, gyT, gsT]);
}

for (const backend of ["cpu", "wasm"] as BackendName[]) {
  Deno.test(`chunkedScan gradients of every input match the oracle (${backend})`, async () => {
    await setBackend(backend);
    await checkGrads({ b: 2, l: 37, dIn: 4, n: 4, full: true }, 1e-3);
    await checkGrads({ b: 1, l: 200, dIn: 3, n: 5, full: true }, 1e-3);
  });
}

Deno.test({
  name: "chunkedScan gradients of every input match the oracle (webgpu)",
  ignore: !gpu,
  fn: async () => {
    await setBackend("webgpu");
    await checkGrads({ b: 2, l: 37, dIn: 4, n: 4, full: true }, 1e-3);
  },
});

Deno.test("chunkedScan rejects a bad chunkSize or segmentLength", async () => {
  await setBackend("cpu");
  const inputs = toTensors(makeCase({ b: 1, l: 4, dIn: 2, n: 2 }));
  assert.throws(
    () => chunkedScan(inputs, { chunkSize: 1 }),
    /chunkSize: expected an integer ≥ 2, received 1/,
  );
  assert.throws(
    () => chunkedScan(inputs, { segmentLength: 0 }),
    /segmentLength: expected a positive integer, received 0/,
  );
});
