/**
 * WGSL selective scan vs the float64 oracle with short segments (the
 * length-split path: local pass, carry pass, full pass), forward and every
 * gradient; outputs poisoned with NaN. See `_webgpu_scan.ts`.
 */
import assert from "node:assert/strict";
import { tf } from "../kernels/backend.ts";
import { backwardBatchRows, SCAN_BWD } from "../kernels/webgpu/scan_kernels.ts";
import { checkCase, ignore, poisoned } from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan: forward and gradients vs float64 oracle, ragged shapes, length split",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  // Segments forced to 3 chunks (24 steps) so the local and carry passes
  // run: 4 segments, the last ragged.
  fn: () =>
    poisoned({ segLen: 24, backwardSegLen: 24 }, async () => {
      await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 1, true);
      await checkCase({ b: 1, l: 1, dIn: 3, n: 16, full: true }, 2, true);
    }),
});

Deno.test({
  name:
    "webgpu scan: backward over batch slices when one call's ∂B/∂C partials would not fit a binding",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // One row's partials at (l 75, dIn 70, n 16) with 4 channels per block:
    // 4 bytes · 18 blocks · 16 · 2 · 75.
    const perRow = 4 * 18 * 16 * 2 * 75;
    await poisoned(
      { segLen: 0, backwardSegLen: 0, backwardPartialsBytes: 2 * perRow },
      async () => {
        assert.equal(backwardBatchRows(75, 70, 16), 2);
        // 3 rows: calls of 2 and 1 rows, gradients joined, ∂A, ∂D, ∂bias
        // summed; with z and an initial state, and without them and with a
        // loss on y alone (the state's gradient is tfjs's CPU zeros).
        for (const [full, yOnly] of [[true, false], [false, true]]) {
          const prof = await tf.profile(() =>
            checkCase({ b: 3, l: 75, dIn: 70, n: 16, full }, 3, true, {
              yOnly,
            })
          );
          const calls = prof.kernels.filter((k) => k.name === SCAN_BWD);
          assert.deepEqual(
            calls.map((k) => k.inputShapes[0]),
            [[2, 75, 70], [1, 75, 70]],
            `backward calls (full ${full})`,
          );
        }
      },
    );
    await poisoned(
      { segLen: 0, backwardSegLen: 0, backwardPartialsBytes: perRow - 4 },
      async () => {
        const tooBig = (e: unknown) =>
          e instanceof RangeError &&
          /one batch row's ∂B\/∂C partials take 172800 bytes \(length 75, 70 channels, state 16\), over this device's 172796-byte storage binding/
            .test(e.message);
        assert.throws(() => backwardBatchRows(75, 70, 16), tooBig);
        // The same error from tf.grads, after a forward that ran.
        await assert.rejects(
          checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 3, true),
          tooBig,
        );
      },
    );
  },
});
