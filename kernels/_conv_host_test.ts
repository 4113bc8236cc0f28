/**
 * The host causal conv + SiLU (cpu, wasm) against a float64 oracle: values,
 * and gradients of every input against central differences of the oracle.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "./backend.ts";
import { hostCausalConvSilu } from "./_conv_host.ts";
import { rng } from "./_scan_test_data.ts";

const [b, l, dIn, k] = [2, 7, 5, 4];

/** Σ gu·SiLU(bias + Σ_j w·[h | x]) + Σ gn·(last k − 1 rows), in float64. */
function oracleLoss(
  x: Float64Array,
  h: Float64Array,
  w: Float64Array,
  bias: Float64Array,
  gu: Float64Array,
  gn: Float64Array,
): number {
  const lp = l + k - 1;
  const xp = (i: number, t: number, d: number) =>
    t < k - 1
      ? h[(i * (k - 1) + t) * dIn + d]
      : x[(i * l + t - k + 1) * dIn + d];
  let loss = 0;
  for (let i = 0; i < b; i++) {
    for (let t = 0; t < l; t++) {
      for (let d = 0; d < dIn; d++) {
        let pre = bias[d];
        for (let j = 0; j < k; j++) pre += w[d * k + j] * xp(i, t + j, d);
        loss += gu[(i * l + t) * dIn + d] * pre / (1 + Math.exp(-pre));
      }
    }
    for (let r = 0; r < k - 1; r++) {
      for (let d = 0; d < dIn; d++) {
        loss += gn[(i * (k - 1) + r) * dIn + d] * xp(i, lp - (k - 1) + r, d);
      }
    }
  }
  return loss;
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`host conv1d+SiLU (${backend}): values ≤ 1e-6, every gradient vs float64 differences ≤ 1e-4`, async () => {
    await setBackend(backend);
    const r = rng(3);
    const f = (n: number) =>
      Float32Array.from({ length: n }, () => r() * 2 - 1);
    const v = {
      x: f(b * l * dIn),
      h: f(b * (k - 1) * dIn),
      w: f(dIn * k),
      bias: f(dIn),
    };
    const gu = Float64Array.from(f(b * l * dIn));
    const gn = Float64Array.from(f(b * (k - 1) * dIn));
    const t = {
      x: tf.tensor3d(v.x, [b, l, dIn]),
      h: tf.tensor3d(v.h, [b, k - 1, dIn]),
      w: tf.tensor3d(v.w, [dIn, 1, k]),
      bias: tf.tensor1d(v.bias),
    };
    const guT = tf.tensor3d(Float32Array.from(gu), [b, l, dIn]);
    const gnT = tf.tensor3d(Float32Array.from(gn), [b, k - 1, dIn]);
    const loss = (
      x: tf.Tensor,
      h: tf.Tensor,
      w: tf.Tensor,
      bias: tf.Tensor,
    ) => {
      const out = hostCausalConvSilu(
        x as tf.Tensor3D,
        h as tf.Tensor3D,
        w as tf.Tensor3D,
        bias as tf.Tensor1D,
      );
      return tf.add(
        tf.sum(tf.mul(out.u, guT)),
        tf.sum(tf.mul(out.history, gnT)),
      );
    };
    const f64 = (a: Float32Array) => Float64Array.from(a);
    const args = [f64(v.x), f64(v.h), f64(v.w), f64(v.bias)] as const;
    const want = oracleLoss(...args, gu, gn);
    const got = (await loss(t.x, t.h, t.w, t.bias).data())[0];
    assert.ok(
      Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)),
      `loss ${got} vs ${want}`,
    );
    const grads = tf.grads(loss)([t.x, t.h, t.w, t.bias]);
    const eps = 1e-6;
    for (let a = 0; a < 4; a++) {
      const g = await grads[a].data();
      const fd = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) {
        const plus = args.map((x) => x.slice()) as Float64Array[];
        const minus = args.map((x) => x.slice()) as Float64Array[];
        plus[a][i] += eps;
        minus[a][i] -= eps;
        fd[i] = (oracleLoss(plus[0], plus[1], plus[2], plus[3], gu, gn) -
          oracleLoss(minus[0], minus[1], minus[2], minus[3], gu, gn)) /
          (2 * eps);
      }
      const scale = Math.max(...fd.map(Math.abs));
      const err = Math.max(...g.map((x, i) => Math.abs(x - fd[i]))) / scale;
      assert.ok(
        err <= 1e-4,
        `gradient ${["x", "history", "weight", "bias"][a]}: rel err ${err}`,
      );
    }
    tf.dispose([...grads, ...Object.values(t), guT, gnT]);
  });
}
