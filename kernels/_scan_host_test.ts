/**
 * hostScan against the float64 oracle: forward (y and final state) and the
 * gradient of every input through tf.grads, with and without the optional
 * inputs, on cpu and wasm; and the dispatch of `"auto"` to it.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "./backend.ts";
import type { BackendName } from "./backend.ts";
import { hostScan } from "./_scan_host.ts";
import { GRAD_OF, referenceScan, referenceScanGrad } from "./scan_reference.ts";
import { SCAN_INPUT_NAMES, type ScanInputs } from "./scan_types.ts";
import {
  type CaseSpec,
  makeCase,
  relError,
  rng,
  toTensors,
} from "./_scan_test_data.ts";

const NAMES = SCAN_INPUT_NAMES;

/** Forward ≤ 1e-6 relative; every gradient of sum(y·gy) ≤ 1e-5 relative. */
async function check(spec: CaseSpec, seed: number): Promise<void> {
  const p = makeCase(spec, seed);
  const label = `${JSON.stringify(spec)} on ${tf.getBackend()}`;
  const want = referenceScan(p);
  const inputs = toTensors(p);
  const { y, state } = hostScan(inputs, { returnState: true });
  const errY = relError(await y.data(), want.y);
  const errS = relError(await state!.data(), want.state);
  assert.ok(errY <= 1e-6, `y: relative error ${errY} > 1e-6 at ${label}`);
  assert.ok(errS <= 1e-6, `state: relative error ${errS} > 1e-6 at ${label}`);

  const r = rng(seed + 1);
  const gy = Float32Array.from({ length: p.b * p.l * p.dIn }, () => r() - 0.5);
  const wantG = referenceScanGrad(p, gy);
  const given = NAMES.filter((k) => inputs[k] !== undefined);
  const xs = given.map((k) => inputs[k] as tf.Tensor);
  const gyT = tf.tensor3d(gy, [p.b, p.l, p.dIn]);
  const grads = tf.grads((...args: tf.Tensor[]) => {
    const named = Object.fromEntries(given.map((k, i) => [k, args[i]]));
    const out = hostScan({
      ...named,
      deltaSoftplus: p.deltaSoftplus,
    } as unknown as ScanInputs);
    return tf.sum(tf.mul(out.y, gyT));
  })(xs);
  for (let i = 0; i < given.length; i++) {
    const key = GRAD_OF[given[i]];
    const err = relError(await grads[i].data(), wantG[key]!);
    assert.ok(
      err <= 1e-5,
      `d${given[i]}: relative error ${err} > 1e-5 at ${label}`,
    );
  }
  tf.dispose([y, state!, gyT, ...grads, ...xs]);
}

for (const backend of ["cpu", "wasm"] as BackendName[]) {
  Deno.test(`hostScan forward and gradients match the float64 oracle (${backend})`, async () => {
    await setBackend(backend);
    await check({ b: 2, l: 37, dIn: 4, n: 4, full: true }, 3);
    await check({ b: 1, l: 200, dIn: 3, n: 5, full: true, regime: "init" }, 4);
    await check({ b: 2, l: 1, dIn: 5, n: 3, full: true }, 5);
    await check({ b: 3, l: 50, dIn: 6, n: 8 }, 6); // no D, z, bias, softplus, h0
    await check({ b: 1, l: 2048, dIn: 2, n: 4, full: true }, 7);
  });
}

Deno.test('selectiveScan "auto" runs hostScan on cpu and wasm (same values)', async () => {
  const { selectiveScan } = await import("./selective_scan.ts");
  for (const backend of ["cpu", "wasm"] as BackendName[]) {
    await setBackend(backend);
    const inputs = toTensors(
      makeCase({ b: 2, l: 20, dIn: 4, n: 4, full: true }, 9),
    );
    const auto = await selectiveScan(inputs).y.data();
    const host = await hostScan(inputs).y.data();
    assert.deepEqual([...auto], [...host]);
  }
});
