/**
 * matMulNT against a float64 oracle (plain loops): ragged m, k, n, both tile
 * sizes, vec4 and scalar variants, bias, NaN-poisoned outputs, gradients,
 * the f16 copy (where the device has `shader-f16`) and its cache.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../backend.ts";
import { rng } from "../_scan_test_data.ts";
import { setPoisonOutputs } from "./_dispatch.ts";
import {
  f16CacheSize,
  hasShaderF16,
  matMulNT,
  setMatMulTuning,
} from "./matmul.ts";

const gpu = await hasWebGPU();

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/** Float64 oracle: y[i][j] = Σ_p a[i][p] w[j][p] + b[j], and Σ |a w| + |b|. */
function oracle(
  a: Float32Array,
  w: ArrayLike<number>,
  b: Float32Array | undefined,
  [m, k, n]: number[],
): { y: Float64Array; scale: Float64Array } {
  const y = new Float64Array(m * n), scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = b ? b[j] : 0, t = b ? Math.abs(b[j]) : 0;
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p] * w[j * k + p];
        s += x;
        t += Math.abs(x);
      }
      y[i * n + j] = s;
      scale[i * n + j] = t;
    }
  }
  return { y, scale };
}

/** Asserts |got - want| ≤ rel · scale elementwise (and no NaN). */
function assertClose(
  got: Float32Array,
  want: Float64Array,
  scale: Float64Array,
  rel: number,
  what: string,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= rel * scale[i] + 1e-30)) {
      assert.fail(
        `${what}[${i}]: got ${got[i]}, want ${want[i]} (err ${err}, tol ${
          rel * scale[i]
        })`,
      );
    }
  }
}

const F32_TOL = 1e-5; // relative to Σ|a·w| + |b|

async function checkForward(
  [m, k, n]: number[],
  withBias: boolean,
  seed: number,
): Promise<void> {
  const a = values(m * k, seed), w = values(n * k, seed + 1);
  const b = withBias ? values(n, seed + 2) : undefined;
  const { y, scale } = oracle(a, w, b, [m, k, n]);
  const out = tf.tidy(() =>
    matMulNT(tf.tensor2d(a, [m, k]), tf.tensor2d(w, [n, k]), {
      bias: b ? tf.tensor1d(b) : undefined,
    })
  );
  assert.deepEqual(out.shape, [m, n]);
  const got = await out.data() as Float32Array;
  out.dispose();
  assertClose(got, y, scale, F32_TOL, `m${m} k${k} n${n} bias ${withBias}`);
}

Deno.test({
  name: "matMulNT f32 matches the float64 oracle on ragged shapes (poisoned)",
  ignore: !gpu,
  async fn() {
    await setBackend("webgpu");
    setPoisonOutputs(true);
    const before = tf.memory().numTensors;
    try {
      // Auto at these sizes: 128×128 tiles with K split into slices wherever
      // k ≥ 64 (few tiles do not fill the GPU): every (m, k, n), bias
      // alternating.
      let seed = 1;
      for (const m of [1, 7, 130]) {
        for (const k of [3, 48, 768]) {
          for (const n of [5, 80, 257]) {
            await checkForward([m, k, n], seed % 2 === 0, seed);
            seed += 3;
          }
        }
      }
      // 128×128 tiles, vec4 and scalar, with and without bias.
      setMatMulTuning({ tile: "large" });
      await checkForward([130, 48, 80], true, 101);
      await checkForward([7, 768, 80], false, 102);
      await checkForward([130, 768, 257], false, 103);
      await checkForward([1, 3, 257], true, 104);
      // No K split, and a forced split of 128×128 tiles (K = 770 ends in a
      // partial slice; vec4 and scalar paths).
      setMatMulTuning({ tile: "small", split: 1 });
      await checkForward([130, 768, 257], false, 105);
      await checkForward([7, 768, 80], true, 106);
      setMatMulTuning({ tile: "small", split: 0 });
      await checkForward([130, 770, 80], true, 109);
      setMatMulTuning({ tile: "large", split: 3 });
      await checkForward([130, 768, 80], true, 107);
      await checkForward([130, 770, 257], false, 108);
    } finally {
      setMatMulTuning({ tile: "auto", split: 0 });
      setPoisonOutputs(false);
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
  },
});

Deno.test({
  name: "matMulNT gradients (dA, dW, dBias) match the float64 oracle",
  ignore: !gpu,
  async fn() {
    await setBackend("webgpu");
    for (const [m, k, n] of [[7, 48, 80], [130, 3, 257]]) {
      const a = values(m * k, 7), w = values(n * k, 8), b = values(n, 9);
      const dy = values(m * n, 10);
      const grads = tf.grads((x, wt, bt) =>
        tf.sum(tf.mul(
          matMulNT(x as tf.Tensor2D, wt as tf.Tensor2D, {
            bias: bt as tf.Tensor1D,
          }),
          tf.tensor2d(dy, [m, n]),
        ))
      );
      const [ga, gw, gb] = grads([
        tf.tensor2d(a, [m, k]),
        tf.tensor2d(w, [n, k]),
        tf.tensor1d(b),
      ]);
      // dA[i][p] = Σ_j dy[i][j] w[j][p]: the oracle with wᵀ as the weight.
      const wT = new Float32Array(k * n), aT = new Float32Array(k * m);
      const dyT = new Float32Array(n * m);
      for (let j = 0; j < n; j++) {
        for (let p = 0; p < k; p++) wT[p * n + j] = w[j * k + p];
        for (let i = 0; i < m; i++) dyT[j * m + i] = dy[i * n + j];
      }
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < k; p++) aT[p * m + i] = a[i * k + p];
      }
      const da = oracle(dy, wT, undefined, [m, n, k]);
      const dw = oracle(dyT, aT, undefined, [n, m, k]);
      const ones = new Float32Array(m).fill(1);
      const db = oracle(ones, dyT, undefined, [1, m, n]);
      const what = `m${m} k${k} n${n}`;
      const checks = [[ga, da, "dA"], [gw, dw, "dW"], [
        gb,
        db,
        "dBias",
      ]] as const;
      for (const [got, want, name] of checks) {
        assertClose(
          await got.data() as Float32Array,
          want.y,
          want.scale,
          F32_TOL,
          `${name} ${what}`,
        );
      }
      tf.dispose([ga, gw, gb]);
    }
  },
});

Deno.test({
  name: "matMulNT names the argument that is wrong",
  ignore: !gpu,
  async fn() {
    await setBackend("webgpu");
    const a = tf.zeros([4, 6]) as tf.Tensor2D;
    const w = tf.zeros([5, 6]) as tf.Tensor2D;
    assert.throws(
      () => matMulNT(a, tf.zeros([5, 7]) as tf.Tensor2D),
      /matMulNT: w: expected k = 6 columns \(a is \[4,6\]\), received \[5,7\]/,
    );
    assert.throws(
      () => matMulNT(a, w, { bias: tf.zeros([4]) as tf.Tensor1D }),
      /matMulNT: bias: expected shape \[5\], received \[4\]/,
    );
    if (!hasShaderF16()) {
      assert.throws(
        () => matMulNT(a, w, { precision: "f16" }),
        /matMulNT: precision "f16" needs the webgpu backend on a device with the "shader-f16" feature; backend "webgpu" lacks it/,
      );
    }
    tf.dispose([a, w]);
  },
});

Deno.test("matMulNT falls back to tfjs's matMul on the cpu backend", async () => {
  await setBackend("cpu");
  const [m, k, n] = [3, 5, 4];
  const a = values(m * k, 21), w = values(n * k, 22), b = values(n, 23);
  const { y, scale } = oracle(a, w, b, [m, k, n]);
  const out = matMulNT(tf.tensor2d(a, [m, k]), tf.tensor2d(w, [n, k]), {
    bias: tf.tensor1d(b),
  });
  assertClose(await out.data() as Float32Array, y, scale, F32_TOL, "cpu");
  assert.throws(
    () =>
      matMulNT(tf.tensor2d(a, [m, k]), tf.tensor2d(w, [n, k]), {
        precision: "f16",
      }),
    /backend "cpu"/,
  );
});

Deno.test({
  name:
    "matMulNT f16 weights: equal to the oracle on f16-rounded W; cache follows the weight",
  ignore: !gpu || !(await (async () => {
    await setBackend("webgpu");
    return hasShaderF16();
  })()),
  async fn() {
    await setBackend("webgpu");
    setPoisonOutputs(true);
    try {
      for (
        const [m, k, n, bias] of [[130, 768, 80, true], [
          7,
          3,
          257,
          false,
        ]] as const
      ) {
        const a = values(m * k, 31), w = values(n * k, 32);
        const b = bias ? values(n, 33) : undefined;
        const w16 = w.map((x) => Math.f16round(x));
        const { y, scale } = oracle(a, w16, b, [m, k, n]);
        const wt = tf.tensor2d(w, [n, k]);
        const out = matMulNT(tf.tensor2d(a, [m, k]), wt, {
          bias: b ? tf.tensor1d(b) : undefined,
          precision: "f16",
        });
        // Only f32 round-off on top of W's rounding, which the oracle has.
        assertClose(
          await out.data() as Float32Array,
          y,
          scale,
          F32_TOL,
          `f16 m${m} k${k} n${n}`,
        );
        wt.dispose();
      }
    } finally {
      setPoisonOutputs(false);
    }
    // A Variable's assign gives a fresh copy; disposing frees it.
    const base = f16CacheSize();
    const a = tf.ones([2, 4]) as tf.Tensor2D;
    const init = tf.ones([3, 4]);
    const v = tf.variable(init);
    init.dispose(); // v now holds the only reference to its data
    const y1 = matMulNT(a, v as tf.Tensor2D, { precision: "f16" });
    assert.deepEqual(Array.from(await y1.data()), new Array(6).fill(4));
    assert.equal(f16CacheSize(), base + 1);
    const two = tf.fill([3, 4], 2);
    v.assign(two);
    two.dispose();
    const y2 = matMulNT(a, v as tf.Tensor2D, { precision: "f16" });
    assert.deepEqual(Array.from(await y2.data()), new Array(6).fill(8));
    assert.equal(f16CacheSize(), base + 1, "the old copy was not freed");
    v.dispose();
    assert.equal(f16CacheSize(), base);
    tf.dispose([a, y1, y2]);
  },
});

for (const backend of ["cpu", "webgpu"] as const) {
  Deno.test({
    name:
      `matMulNT gradient when its input is an intermediate freed by tidy (${backend})`,
    ignore: backend === "webgpu" && !gpu,
    sanitizeResources: false,
    sanitizeOps: false,
  }, async () => {
    await setBackend(backend);
    const x = tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
    const w = tf.variable(tf.tensor2d([[1, 0, -1], [2, 1, 0]]));
    // loss = Σ (2x)·wᵀ: ∂/∂x[i, k] = 2 Σ_n w[n, k]; ∂/∂w[n, k] = 2 Σ_i x[i, k].
    const { grads, value } = tf.variableGrads(() =>
      tf.tidy(() => matMulNT(tf.mul(x, 2) as tf.Tensor2D, w).sum()) as tf.Scalar
    );
    assert.deepEqual(Array.from(await grads[x.name].data()), [
      6,
      2,
      -2,
      6,
      2,
      -2,
    ]);
    assert.deepEqual(Array.from(await grads[w.name].data()), [
      10,
      14,
      18,
      10,
      14,
      18,
    ]);
    tf.dispose([value, x, w, ...Object.values(grads)]);
  });
}
