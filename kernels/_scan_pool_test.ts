/**
 * The host scan split over worker threads: forward, final state and every
 * gradient against the float64 oracle, with three threads over five
 * sequences (uneven ranges), with and without the optional inputs.
 */
import assert from "node:assert/strict";

import { setBackend, tf } from "./backend.ts";
import { hostScan } from "./_scan_host.ts";
import { scanThreads, startScanPool } from "./_scan_pool.ts";
import { GRAD_OF, referenceScan, referenceScanGrad } from "./scan_reference.ts";
import { SCAN_INPUT_NAMES, type ScanInputs } from "./scan_types.ts";
import { makeCase, relError, rng, toTensors } from "./_scan_test_data.ts";

// Read once, when the pool starts.
Deno.env.set("MAMBA_SCAN_THREADS", "3");

Deno.test({
  name:
    "hostScan on three threads matches the float64 oracle (y, state ≤ 1e-6; gradients ≤ 1e-5)",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await setBackend("wasm");
  for (const full of [true, false]) {
    const p = makeCase({ b: 5, l: 96, dIn: 16, n: 12, full }, full ? 11 : 12);
    // (the pool ends itself after idling, e.g. while the oracle runs)
    assert.equal(await startScanPool(), 3);
    assert.equal(scanThreads(p.b, p.b * p.l * p.dIn * p.n), 3);
    const inputs = toTensors(p);
    const want = referenceScan(p);
    const { y, state } = hostScan(inputs, { returnState: true });
    assert.ok(relError(await y.data(), want.y) <= 1e-6, "y");
    assert.ok(relError(await state!.data(), want.state) <= 1e-6, "state");
    const r = rng(5);
    const gy = Float32Array.from(
      { length: p.b * p.l * p.dIn },
      () => r() - 0.5,
    );
    const wantG = referenceScanGrad(p, gy);
    assert.equal(await startScanPool(), 3);
    const given = SCAN_INPUT_NAMES.filter((k) => inputs[k] !== undefined);
    const gyT = tf.tensor3d(gy, [p.b, p.l, p.dIn]);
    const grads = tf.grads((...args: tf.Tensor[]) => {
      const named = Object.fromEntries(given.map((k, i) => [k, args[i]]));
      const out = hostScan({
        ...named,
        deltaSoftplus: p.deltaSoftplus,
      } as unknown as ScanInputs);
      return tf.sum(tf.mul(out.y, gyT));
    })(given.map((k) => inputs[k] as tf.Tensor));
    for (let i = 0; i < given.length; i++) {
      const err = relError(await grads[i].data(), wantG[GRAD_OF[given[i]]]!);
      assert.ok(err <= 1e-5, `d${given[i]} (full ${full}): ${err}`);
    }
    tf.dispose([y, state!, gyT, ...grads]);
  }
});

Deno.test("MAMBA_SCAN_THREADS: a bad value is refused by name", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { scanThreads } from "${new URL(
        "./_scan_pool.ts",
        import.meta.url,
      )}"; scanThreads(8, 1 << 20);`,
    ],
    env: { MAMBA_SCAN_THREADS: "many" },
    stderr: "piped",
  }).output();
  assert.equal(out.success, false);
  const err = new TextDecoder().decode(out.stderr);
  assert.match(
    err,
    /MAMBA_SCAN_THREADS: expected an integer from 1 to 64, received "many"/,
  );
});
