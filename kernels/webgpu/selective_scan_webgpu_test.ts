/**
 * The WGSL scan's gradient when the loss ignores one output: tfjs's engine
 * then passes CPU-built zeros as that output's gradient, which the backward
 * kernel must neither upload (the cost that made forward+backward seconds of
 * wall time on the H200) nor get wrong. Checked against the float64 oracle,
 * outputs poisoned with NaN, with and without the length split.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../backend.ts";
import {
  GRAD_OF,
  referenceScan,
  referenceScanGrad,
  type RefScanInputs,
} from "../scan_reference.ts";
import { SCAN_INPUT_NAMES } from "../scan_types.ts";
import { setPoisonOutputs, webgpuBackend } from "./_dispatch.ts";
import { relErr } from "./_test_util.ts";
import { rng } from "../_scan_test_data.ts";
import { setScanTuning, SOFTWARE_TUNING } from "./scan_kernels.ts";
import { webgpuSelectiveScan } from "./selective_scan_webgpu.ts";

const ignore = !(await hasWebGPU());
const [b, l, dIn, n] = [2, 40, 12, 16]; // (b, l, dIn, n)

function inputs(): RefScanInputs {
  const r = rng(12345);
  const f = (len: number, lo: number, hi: number) =>
    Float32Array.from({ length: len }, () => lo + (hi - lo) * r());
  return {
    b,
    l,
    dIn,
    n,
    u: f(b * l * dIn, -1, 1), // (b, l, dIn)
    delta: f(b * l * dIn, -4, 0), // (b, l, dIn)
    A: Float32Array.from({ length: dIn * n }, (_, i) => -(1 + (i % n)) / 2),
    B: f(b * l * n, -1, 1), // (b, l, n)
    C: f(b * l * n, -1, 1), // (b, l, n)
    D: f(dIn, -1, 1),
    z: f(b * l * dIn, -3, 3), // (b, l, dIn)
    deltaBias: f(dIn, -2, 0),
    deltaSoftplus: true,
    initialState: f(b * dIn * n, -1, 1), // (b, dIn, n)
  };
}

const SHAPES: Record<(typeof SCAN_INPUT_NAMES)[number], number[]> = {
  u: [b, l, dIn],
  delta: [b, l, dIn],
  A: [dIn, n],
  B: [b, l, n],
  C: [b, l, n],
  D: [dIn],
  z: [b, l, dIn],
  deltaBias: [dIn],
  initialState: [b, dIn, n],
};

/** Gradients of `out` (y or the final state) with dy = `dy`. */
function grads(xs: tf.Tensor[], out: "y" | "state", dy: tf.Tensor) {
  return tf.grads((...v: tf.Tensor[]) => {
    const m = Object.fromEntries(SCAN_INPUT_NAMES.map((k, i) => [k, v[i]]));
    const o = webgpuSelectiveScan({ ...m, deltaSoftplus: true } as never, {
      returnState: true,
    });
    return out === "y" ? o.y : o.state!;
  })(xs, dy);
}

Deno.test({
  name:
    "webgpu scan gradient: loss on y alone or on the final state alone vs float64 oracle, no uploads",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await setBackend("webgpu");
    setPoisonOutputs(true);
    const backend = webgpuBackend();
    const upload = backend.uploadToGPU;
    let uploaded = 0;
    backend.uploadToGPU = (id: object) => {
      const d = backend.tensorMap.get(id);
      if (d.resource == null && d.values) uploaded += d.values.length;
      upload.call(backend, id);
    };
    try {
      const p = inputs();
      const want = referenceScan(p);
      const xs = SCAN_INPUT_NAMES.map((k) =>
        tf.tensor(p[k] as Float32Array, SHAPES[k])
      );
      const gy = tf.randomUniform([b, l, dIn], -1, 1); // (b, l, dIn)
      const gs = tf.randomUniform([b, dIn, n], -1, 1); // (b, dIn, n)
      const gyV = await gy.data();
      const gsV = await gs.data();
      // Every input on the GPU first: only uploads made by the gradient count.
      for (const t of [...xs, gy, gs]) backend.uploadToGPU(t.dataId);
      // Segments of 8 steps (local, carry and full passes) and none.
      for (const segLen of [8, 0]) {
        setScanTuning({
          ...SOFTWARE_TUNING,
          segLen,
          backwardSegLen: segLen,
        });
        for (const out of ["y", "state"] as const) {
          uploaded = 0;
          const got = grads(xs, out, out === "y" ? gy : gs);
          assert.equal(uploaded, 0, `${out} segLen=${segLen}: floats uploaded`);
          const ref = out === "y"
            ? referenceScanGrad(p, gyV, new Float32Array(gsV.length))
            : referenceScanGrad(p, new Float32Array(want.y.length), gsV);
          for (let i = 0; i < SCAN_INPUT_NAMES.length; i++) {
            const key = GRAD_OF[SCAN_INPUT_NAMES[i] as keyof typeof GRAD_OF];
            const e = relErr(
              await got[i].data(),
              (ref as unknown as Record<string, Float64Array>)[key],
            );
            assert.ok(
              e <= 1e-4,
              `${out} segLen=${segLen}: gradient of ${
                SCAN_INPUT_NAMES[i]
              }: rel err ${e}`,
            );
          }
          tf.dispose(got);
        }
      }
      tf.dispose([...xs, gy, gs]);
    } finally {
      backend.uploadToGPU = upload;
      setPoisonOutputs(false);
      setScanTuning("defaults");
    }
  },
});
