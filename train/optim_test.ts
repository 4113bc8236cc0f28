import assert from "node:assert/strict";
import { tf } from "../kernels/backend.ts";
import {
  accumulate,
  AdamW,
  clipGlobalNorm,
  lrAt,
  noWeightDecay,
  sumOfSquares,
} from "./optim.ts";

Deno.test("noWeightDecay: A_log, D, norms, biases excluded; weights decayed", () => {
  for (
    const n of [
      "backbone.layers.3.mixer.A_log",
      "backbone.layers.3.mixer.D",
      "backbone.layers.3.norm.weight",
      "backbone.norm_f.weight",
      "backbone.layers.0.mixer.conv1d.bias",
      "backbone.layers.0.mixer.dt_proj.bias",
      "backbone.layers.0.mixer.dt_bias",
      "backbone.layers.0.mixer.norm.weight",
      "classifier.hidden.bias",
    ]
  ) {
    assert.equal(noWeightDecay(n), true, n);
  }
  for (
    const n of [
      "backbone.layers.3.mixer.in_proj.weight",
      "backbone.embeddings.weight",
      "classifier.hidden.weight",
      "backbone.layers.0.mixer.dt_proj.weight",
    ]
  ) {
    assert.equal(noWeightDecay(n), false, n);
  }
});

Deno.test("lrAt: linear warmup then cosine to minLr", () => {
  const s = { lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 };
  assert.equal(lrAt(0, s), 0.1);
  assert.equal(lrAt(9, s), 1);
  assert.ok(Math.abs(lrAt(60, s) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(110, s) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt(500, s) - 0.1) < 1e-12);
});

/** float64 oracle of torch.optim.AdamW. */
function adamwOracle(p: number[], grads: number[][], lr: number, wd: number) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m = p.map(() => 0), v = p.map(() => 0);
  grads.forEach((g, t) => {
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** (t + 1)), vh = v[i] / (1 - b2 ** (t + 1));
      p[i] -= lr * mh / (Math.sqrt(vh) + eps);
    }
  });
  return p;
}

Deno.test("AdamW matches a float64 oracle; no decay on the no-decay group (rel 1e-5)", async () => {
  await tf.setBackend("cpu");
  const w0 = [0.5, -1.25, 2];
  const params = new Map([
    ["x.weight", tf.variable(tf.tensor1d(w0))],
    ["x.D", tf.variable(tf.tensor1d(w0))],
  ]);
  const opt = new AdamW(params, { lr: 0.1, weightDecay: 0.3 });
  const gs = [[0.1, -0.2, 0.3], [1, 2, -3], [-0.5, 0.25, 0]];
  for (const g of gs) {
    const grads = new Map([["x.weight", tf.tensor1d(g)], [
      "x.D",
      tf.tensor1d(g),
    ]]);
    opt.apply(grads, 0.1);
    tf.dispose([...grads.values()]);
  }
  const wantDecay = adamwOracle([...w0], gs, 0.1, 0.3);
  const wantNo = adamwOracle([...w0], gs, 0.1, 0);
  const got = await params.get("x.weight")!.data();
  const gotNo = await params.get("x.D")!.data();
  for (let i = 0; i < 3; i++) {
    assert.ok(
      Math.abs(got[i] - wantDecay[i]) <= 1e-5 * Math.abs(wantDecay[i]) + 1e-6,
      `${got[i]} vs ${wantDecay[i]}`,
    );
    assert.ok(
      Math.abs(gotNo[i] - wantNo[i]) <= 1e-5 * Math.abs(wantNo[i]) + 1e-6,
      `${gotNo[i]} vs ${wantNo[i]}`,
    );
  }
  // state round trip is exact
  const state = await opt.state();
  const opt2 = new AdamW(params, { lr: 0.1 });
  opt2.load(state, "mem");
  const s2 = await opt2.state();
  assert.deepEqual([...s2.m.get("x.D")!], [...state.m.get("x.D")!]);
  assert.equal(s2.step, 3);
  assert.throws(
    () => opt2.load({ step: 1, m: new Map(), v: new Map() }, "f.safetensors"),
    /f\.safetensors: tensor "m\.x\.weight": expected 3 values, received none/,
  );
  opt.dispose();
  opt2.dispose();
  tf.dispose([...params.values()]);
});

Deno.test("sumOfSquares sums rows first and equals the float64 sum", async () => {
  await tf.setBackend("cpu");
  // shape, and the (rows, cols) its first reduction must see (none: one sum)
  const cases: [number[], number[] | null][] = [
    [[300, 7], [42, 50]],
    [[5, 6, 7], [14, 15]],
    [[1, 4096], [64, 64]],
    [[4096], [64, 64]],
    [[2, 1, 3], [2, 3]],
    [[7, 1], null], // a prime size: one sum
  ];
  for (const [shape, first] of cases) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 3);
    let want = 0;
    for (const x of v) want += x * x;
    const x = tf.tensor(v, shape);
    let s!: tf.Tensor;
    const prof = await tf.profile(() => (s = sumOfSquares(x)));
    const sums = prof.kernels.filter((k) => k.name === "Sum");
    assert.deepEqual(
      sums[0].inputShapes[0],
      first ?? shape,
      `first reduction of [${shape}]`,
    );
    assert.equal(sums.length, first ? 2 : 1, `reductions of [${shape}]`);
    x.dispose();
    const got = (await s.data())[0];
    assert.equal(s.rank, 0, `rank of the sum for [${shape}]`);
    assert.ok(
      Math.abs(got - want) <= 1e-6 * want,
      `[${shape}]: ${got} vs ${want}`,
    );
    s.dispose();
  }
});

Deno.test("clipGlobalNorm scales to the bound; accumulate sums", async () => {
  await tf.setBackend("cpu");
  const g = new Map([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([0, 4])]]);
  const norm = await clipGlobalNorm(g, 1);
  assert.equal(norm, 5);
  const a = await g.get("a")!.data();
  assert.ok(Math.abs(a[0] - 0.6) < 1e-5);
  const sum = accumulate(
    accumulate(undefined, new Map([["a", tf.scalar(1)]])),
    new Map([["a", tf.scalar(2)]]),
  );
  assert.equal((await sum.get("a")!.data())[0], 3);
  tf.dispose([...g.values(), ...sum.values()]);
});
