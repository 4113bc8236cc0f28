/** The float32 softplus against float64, and its gradient. */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";
import type { BackendName } from "./backend.ts";
import { softplus } from "./_softplus.ts";

// down to e^-80 (x = −90 would give a subnormal, flushed to 0 on wasm and webgpu)
const xs = [-80, -30, -17, -7.25, -7, -3, -1e-3, 0, 1e-6, 0.5, 3, 7, 20, 80];
const f64 = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

for (const backend of ["cpu", "wasm", "webgpu"] as BackendName[]) {
  Deno.test({
    name: `softplus is accurate to float32 round-off (${backend})`,
    ignore: backend === "webgpu" && !(await hasWebGPU()),
    fn: async () => {
      await setBackend(backend);
      // WGSL's exp is only specified to 3 + 2|x| ULP: ~1e-5 at |x| = 80
      const tol = backend === "webgpu" ? 2e-5 : 1e-6;
      const x = tf.tensor1d(xs);
      const [value, grad] = [
        await softplus(x).data(),
        await tf.grad((t: tf.Tensor) => tf.sum(softplus(t)))(x).data(),
      ];
      for (let i = 0; i < xs.length; i++) {
        const x32 = Math.fround(xs[i]);
        const want = f64(x32);
        const rel = Math.abs(value[i] - want) / want;
        assert.ok(
          rel <= tol,
          `softplus(${xs[i]}): relative error ${rel} > ${tol}`,
        );
        const s = 1 / (1 + Math.exp(-x32));
        const g = Math.abs(grad[i] - s) / s;
        assert.ok(
          g <= 10 * tol,
          `softplus'(${xs[i]}): relative error ${g} > ${10 * tol}`,
        );
      }
    },
  });
}
