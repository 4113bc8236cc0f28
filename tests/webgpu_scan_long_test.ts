/**
 * WGSL selective scan vs the float64 oracle without the length split, long
 * and ragged shapes (l up to 3000), forward and every gradient, and the
 * decode step; outputs poisoned with NaN. See `_webgpu_scan.ts`.
 */
import assert from "node:assert/strict";
import type { tf } from "../kernels/backend.ts";
import { referenceScan } from "../kernels/scan_reference.ts";
import { webgpuScanStep } from "../kernels/webgpu/selective_scan_webgpu.ts";
import { relErr } from "../kernels/webgpu/_test_util.ts";
import {
  checkCase,
  ignore,
  makeInputs,
  poisoned,
  tensors,
} from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan: forward and gradients vs float64 oracle, ragged shapes, automatic split",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned({ segLen: 0, backwardSegLen: 0 }, async () => {
      await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 3, true);
      // n = 3: B and C read as scalars (not vec4); length split automatic.
      await checkCase({ b: 1, l: 3000, dIn: 5, n: 3, full: false }, 4, true);
      await checkCase({ b: 3, l: 513, dIn: 65, n: 16, full: true }, 5, false);
    }),
});

Deno.test({
  name: "webgpu scan: decode step equals one step of the oracle",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned({ segLen: 0, backwardSegLen: 0 }, async () => {
      const c = { b: 3, l: 1, dIn: 70, n: 16, full: true };
      const p = makeInputs(c, 9);
      const want = referenceScan(p);
      const t = tensors(p);
      const two = (x: tf.Tensor) => x.reshape([c.b, -1]) as tf.Tensor2D;
      const { y, state } = webgpuScanStep({
        u: two(t.u),
        delta: two(t.delta),
        A: t.A as tf.Tensor2D,
        B: two(t.B),
        C: two(t.C),
        D: t.D as tf.Tensor1D,
        z: two(t.z),
        deltaBias: t.deltaBias as tf.Tensor1D,
        deltaSoftplus: true,
        state: t.initialState as tf.Tensor3D,
      });
      const ey = relErr(await y.data(), want.y);
      const es = relErr(await state.data(), want.state);
      assert.ok(ey <= 1e-5, `step y: rel err ${ey}`);
      assert.ok(es <= 1e-5, `step state: rel err ${es}`);
    }),
});
