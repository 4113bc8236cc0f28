/**
 * cumsumLastAxis against a float64 running sum at several lengths in a row
 * (tfjs's webgpu Cumsum returns wrong values after a length change), with
 * exclusive/reverse, and its gradient.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";
import type { BackendName } from "./backend.ts";
import { cumsumLastAxis } from "./_cumsum.ts";
import { relError, rng } from "./_scan_test_data.ts";

function running(
  x: Float32Array,
  L: number,
  exclusive: boolean,
  reverse: boolean,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / L; r++) {
    let acc = 0;
    for (let i = 0; i < L; i++) {
      const t = reverse ? L - 1 - i : i;
      if (exclusive) out[r * L + t] = acc;
      acc += x[r * L + t];
      if (!exclusive) out[r * L + t] = acc;
    }
  }
  return out;
}

for (const backend of ["cpu", "wasm", "webgpu"] as BackendName[]) {
  Deno.test({
    name:
      `cumsumLastAxis is right at every length, forward and gradient (${backend})`,
    ignore: backend === "webgpu" && !(await hasWebGPU()),
    fn: async () => {
      await setBackend(backend);
      const r = rng(11);
      for (const L of [5, 40, 7, 1100]) {
        const x = Float32Array.from({ length: 3 * L }, () => r() - 0.5);
        const xt = tf.tensor3d(x, [1, 3, L]);
        for (const [exclusive, reverse] of [[false, false], [true, true]]) {
          const got = await cumsumLastAxis(xt, { exclusive, reverse }).data();
          const err = relError(got, running(x, L, exclusive, reverse));
          assert.ok(err <= 1e-6, `L=${L} ${exclusive} ${reverse}: ${err}`);
        }
        // d/dx Σ w·cumsum(x) = reverse cumsum of w
        const w = Float32Array.from({ length: 3 * L }, () => r() - 0.5);
        const wt = tf.tensor3d(w, [1, 3, L]);
        const g = await tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(cumsumLastAxis(t), wt))
        )(xt).data();
        const err = relError(g, running(w, L, false, true));
        assert.ok(err <= 1e-6, `gradient at L=${L}: ${err}`);
      }
    },
  });
}
