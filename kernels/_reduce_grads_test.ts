/**
 * The Sum and Mean gradients (kernels/_reduce_grads.ts): values against the
 * closed form on every backend, every axis form; on webgpu no tensor the size
 * of the input is uploaded from the CPU.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";

const gpu = await hasWebGPU();

for (const backend of ["cpu", "wasm", "webgpu"] as const) {
  Deno.test({
    name: `Sum and Mean gradients broadcast dy (${backend})`,
    ignore: backend === "webgpu" && !gpu,
    sanitizeResources: false,
    sanitizeOps: false,
  }, async () => {
    await setBackend(backend);
    const x = tf.tensor3d([...Array(24).keys()].map((i) => i * 0.5 - 3), [
      2,
      3,
      4,
    ]);
    // f = Σ w ⊙ reduce(x): ∂f/∂x = w broadcast over the reduced axes (÷ n for mean).
    const cases: [string, number | number[] | undefined, boolean][] = [
      ["all", undefined, false],
      ["axis 1", 1, false],
      ["axes [0, 2]", [0, 2], false],
      ["axis -1 keepDims", -1, true],
    ];
    for (const [label, axis, keepDims] of cases) {
      for (const op of ["sum", "mean"] as const) {
        const reduce = (t: tf.Tensor) =>
          op === "sum" ? tf.sum(t, axis, keepDims) : tf.mean(t, axis, keepDims);
        const out = reduce(x);
        const w = tf.range(1, out.size + 1).reshape(out.shape);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reduce(t), w)))(x);
        const axes = axis === undefined
          ? [0, 1, 2]
          : (Array.isArray(axis) ? axis : [axis]).map((a) => a < 0 ? a + 3 : a);
        const n = axes.reduce((p, a) => p * x.shape[a], 1);
        const wData = await w.data();
        const kept = x.shape.map((s, i) => axes.includes(i) ? 1 : s);
        const expected: number[] = [];
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 3; j++) {
            for (let k = 0; k < 4; k++) {
              const idx = [i, j, k].map((v, d) => kept[d] === 1 ? 0 : v);
              const flat = (idx[0] * kept[1] + idx[1]) * kept[2] + idx[2];
              expected.push(wData[flat] / (op === "mean" ? n : 1));
            }
          }
        }
        const got = Array.from(await g.data());
        got.forEach((v, i) =>
          assert.ok(
            Math.abs(v - expected[i]) <= 1e-6 * Math.abs(expected[i]),
            `${op} ${label}: [${i}] ${v} vs ${expected[i]}`,
          )
        );
        tf.dispose([out, w, g]);
      }
    }
    x.dispose();
  });
}

Deno.test({
  name: "Sum gradient on webgpu uploads no input-sized tensor",
  ignore: !gpu,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await setBackend("webgpu");
  const backend = tf.backend() as unknown as {
    uploadToGPU(id: object): void;
    tensorMap: {
      get(id: object): { shape: number[]; values: unknown; resource: unknown };
    };
  };
  const x = tf.randomNormal([64, 64]);
  await x.data();
  tf.add(x, 0).dispose(); // x on the GPU now
  const original = backend.uploadToGPU.bind(backend);
  let uploaded = 0;
  backend.uploadToGPU = (id: object) => {
    const info = backend.tensorMap.get(id);
    if (info && info.values && !info.resource) { // CPU data to upload
      uploaded = Math.max(uploaded, info.shape.reduce((a, b) => a * b, 1));
    }
    original(id);
  };
  try {
    const g = tf.grad((t: tf.Tensor) => tf.sum(t))(x);
    await g.data();
    g.dispose();
  } finally {
    backend.uploadToGPU = original;
  }
  assert.ok(uploaded < x.size, `uploaded a tensor of ${uploaded} values`);
  x.dispose();
});
