/**
 * The wasm kernels that tfjs-backend-wasm lacks: UnsortedSegmentSum against a
 * float64 oracle, and the gradient of small models' losses on wasm against
 * the same gradient on cpu (every kernel the backward pass reaches).
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "./backend.ts";
import { buildModel } from "../models/model.ts";
import { classificationLoss, lmLoss } from "../train/metrics.ts";

/** Σ over rows with the same id, in float64; ids outside [0, s) dropped. */
function segmentSumOracle(
  x: number[],
  ids: number[],
  numSegments: number,
): number[] {
  const inner = x.length / ids.length;
  const out = new Array(numSegments * inner).fill(0);
  ids.forEach((s, i) => {
    if (s < 0 || s >= numSegments) return;
    for (let j = 0; j < inner; j++) out[s * inner + j] += x[i * inner + j];
  });
  return out;
}

Deno.test("UnsortedSegmentSum on wasm = float64 oracle (repeats, out-of-range ids, int32)", async () => {
  await setBackend("wasm");
  const ids = [3, 0, 3, 5, -1, 0]; // 5 and −1 are out of range: dropped
  const xs = Array.from({ length: 6 * 2 * 2 }, (_, i) => Math.sin(i) * 10);
  const x = tf.tensor(xs, [6, 2, 2]);
  const seg = tf.tensor1d(ids, "int32");
  const out = tf.unsortedSegmentSum(x, seg, 5);
  assert.deepEqual(out.shape, [5, 2, 2]);
  const want = segmentSumOracle(xs, ids, 5);
  const got = await out.data();
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])),
      `out[${i}]: expected ${want[i]}, received ${got[i]}`,
    );
  }
  const xi = tf.tensor1d([1, 2, 3, 4], "int32");
  const outInt = tf.unsortedSegmentSum(
    xi,
    tf.tensor1d([1, 1, 0, 1], "int32"),
    2,
  );
  assert.equal(outInt.dtype, "int32");
  assert.deepEqual([...await outInt.data()], [3, 7]);
  tf.dispose([x, seg, out, xi, outInt]);
});

Deno.test("BatchMatMul on wasm with transposeA/transposeB = float64 oracle (2-D and batched)", async () => {
  await setBackend("wasm");
  const [bt, m, k, n] = [3, 5, 7, 4];
  const av = Array.from({ length: bt * m * k }, (_, i) => Math.sin(i + 1));
  const bv = Array.from({ length: bt * k * n }, (_, i) => Math.cos(i * 0.7));
  const at = (i: number, r: number, c: number) => av[(i * m + r) * k + c]; // a[i] (m, k)
  const btv = (i: number, r: number, c: number) => bv[(i * k + r) * n + c]; // b[i] (k, n)
  const want = Array.from({ length: bt * m * n }, (_, j) => {
    const [i, r, c] = [Math.floor(j / (m * n)), Math.floor(j / n) % m, j % n];
    let acc = 0;
    for (let q = 0; q < k; q++) acc += at(i, r, q) * btv(i, q, c);
    return acc;
  });
  const a = tf.tensor3d(av, [bt, m, k]);
  const b = tf.tensor3d(bv, [bt, k, n]);
  for (
    const [ta, tb] of [[false, false], [true, false], [false, true], [
      true,
      true,
    ]]
  ) {
    const aIn = ta ? tf.transpose(a, [0, 2, 1]) : a;
    const bIn = tb ? tf.transpose(b, [0, 2, 1]) : b;
    const out = tf.matMul(aIn, bIn, ta, tb);
    assert.deepEqual(out.shape, [bt, m, n]);
    const got = await out.data();
    for (let j = 0; j < want.length; j++) {
      assert.ok(
        Math.abs(got[j] - want[j]) <= 1e-5 * Math.max(1, Math.abs(want[j])),
        `transposeA ${ta}, transposeB ${tb}: out[${j}] expected ${
          want[j]
        }, received ${got[j]}`,
      );
    }
    // 2-D: the first matrix of the batch
    const out2 = tf.matMul(
      tf.squeeze(tf.slice(aIn, [0, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D,
      tf.squeeze(tf.slice(bIn, [0, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D,
      ta,
      tb,
    );
    const got2 = await out2.data();
    for (let j = 0; j < m * n; j++) {
      assert.ok(
        Math.abs(got2[j] - want[j]) <= 1e-5 * Math.max(1, Math.abs(want[j])),
      );
    }
  }
});

const block = (norm: object, extra: object[] = []) => ({
  kind: "repeat",
  times: 2,
  body: [{
    kind: "residual",
    norm,
    mixer: { kind: "mamba", dState: 4 },
  }, ...extra],
});

/** Small models covering every norm, pooling, head and dropout. */
const MODELS: { name: string; arch: object; loss: "lm" | "bin" | "multi" }[] = [
  {
    name: "rms + mean pooling + sigmoid",
    loss: "bin",
    arch: {
      name: "g_bin",
      nodes: [
        { kind: "embedding", vocab: 40, dim: 8 },
        block({ kind: "rms_norm" }),
        { kind: "rms_norm" },
        {
          kind: "classifier",
          pooling: "mean",
          classes: 1,
          activation: "sigmoid",
        },
      ],
    },
  },
  {
    name: "layer norm + dropout + flatten + gelu hidden",
    loss: "bin",
    arch: {
      name: "g_flat",
      seqLen: 12,
      nodes: [
        { kind: "embedding", vocab: 40, dim: 8 },
        block({ kind: "layer_norm" }, [{ kind: "dropout", rate: 0.2 }]),
        {
          kind: "classifier",
          pooling: "flatten",
          hidden: { units: 6, activation: "gelu" },
          classes: 1,
          activation: "sigmoid",
        },
      ],
    },
  },
  {
    name: "last pooling + softmax, 3 classes",
    loss: "multi",
    arch: {
      name: "g_multi",
      nodes: [
        { kind: "embedding", vocab: 40, dim: 8 },
        block({ kind: "rms_norm" }),
        {
          kind: "classifier",
          pooling: "last",
          classes: 3,
          activation: "softmax",
        },
      ],
    },
  },
  {
    name: "LM, untied head",
    loss: "lm",
    arch: {
      name: "g_lm",
      nodes: [
        { kind: "embedding", vocab: 40, dim: 8 },
        block({ kind: "rms_norm" }),
        { kind: "rms_norm" },
        { kind: "lm_head", tied: false },
      ],
    },
  },
];

const IDS = [
  Array.from({ length: 12 }, (_, t) => (t * 7 + 3) % 40),
  Array.from({ length: 12 }, (_, t) => (t * t + 1) % 40),
];

async function gradients(
  backend: "cpu" | "wasm",
  arch: object,
  loss: "lm" | "bin" | "multi",
): Promise<Map<string, Float32Array>> {
  await setBackend(backend);
  const model = buildModel(arch, { seed: 3 });
  const vars = [...model.params.values()];
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(IDS, { training: true, seed: 5, raw: true });
    if (loss === "lm") return lmLoss(out, IDS.map((r) => r.slice(1).concat(0)));
    return classificationLoss(out, loss === "bin" ? [0, 1] : [2, 1]);
  }, vars);
  const result = new Map<string, Float32Array>();
  for (const [name, v] of model.params) {
    result.set(name, (await grads[v.name].data()) as Float32Array);
  }
  tf.dispose([value, ...Object.values(grads)]);
  model.dispose();
  return result;
}

const norm = (xs: ArrayLike<number>[]) =>
  Math.sqrt(xs.reduce((acc, x) => {
    for (let i = 0; i < x.length; i++) acc += x[i] ** 2;
    return acc;
  }, 0));

// Relative to the norm of the whole gradient: a small, cancelling entry (the
// output bias: Σ σ(s) − y) would make a per-tensor ratio meaningless.
for (const { name, arch, loss } of MODELS) {
  Deno.test(`gradient of the loss on wasm = on cpu (‖Δ‖ ≤ 1e-5 ‖g‖): ${name}`, async () => {
    const cpu = await gradients("cpu", arch, loss);
    const wasm = await gradients("wasm", arch, loss);
    assert.deepEqual([...wasm.keys()], [...cpu.keys()]);
    const scale = norm([...cpu.values()]);
    assert.ok(scale > 0, "the gradient is all zeros on cpu");
    const diffs: Float64Array[] = [];
    for (const [param, want] of cpu) {
      const got = wasm.get(param)!;
      const diff = Float64Array.from(want, (w, i) => got[i] - w);
      assert.ok(
        norm([want]) > 0,
        `${param}: gradient is all zeros on cpu`,
      );
      assert.ok(
        norm([diff]) <= 1e-5 * scale,
        `${param}: ‖wasm − cpu‖ = ${norm([diff])}, expected ≤ 1e-5 × ‖g‖ = ${
          1e-5 * scale
        }`,
      );
      diffs.push(diff);
    }
    const total = norm(diffs) / scale;
    assert.ok(total <= 1e-5, `‖wasm − cpu‖ / ‖g‖ = ${total}, expected ≤ 1e-5`);
  });
}
