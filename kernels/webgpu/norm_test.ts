/**
 * The fused WGSL RMSNorm / LayerNorm (and residual add + norm) against a
 * float64 oracle: the forward from the definition, the gradients from the
 * full per-row Jacobian (∂y_j/∂x_i written out, O(d²), a different route
 * from the kernel's closed form). Widths 7, 64 and 768 (below, at and above
 * the workgroup size), with and without bias. Output buffers are filled
 * with NaN before every kernel. Relative error is max |got − want| /
 * max |want| over the tensor.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../backend.ts";
import { gradsAt, onPoisonedWebGPU, relErr } from "./_test_util.ts";
import { rng } from "../_scan_test_data.ts";
import { type NormKind, webgpuAddNorm, webgpuNorm } from "./norm.ts";

const ignore = !(await hasWebGPU());
const FWD_TOL = 1e-5;
const GRAD_TOL = 1e-4;
const EPS = 1e-5;

/**
 * float64 y = norm(v) and the gradients of Σ dy·y to v, w, bias, from the
 * Jacobian ∂y_j/∂v_i = w_j·r·(δ_ij − [layer]/d − x̂_i·x̂_j/d).
 */
function oracle(
  layer: boolean,
  v: Float64Array,
  d: number,
  w: Float32Array,
  bias: Float32Array | undefined,
  dy: Float32Array,
) {
  const rows = v.length / d;
  const y = new Float64Array(v.length);
  const gv = new Float64Array(v.length);
  const gw = new Float64Array(d);
  const gb = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const row = v.subarray(r * d, (r + 1) * d);
    const mean = layer ? row.reduce((a, b) => a + b, 0) / d : 0;
    const ms = row.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
    const rs = 1 / Math.sqrt(ms + EPS);
    const xh = Array.from(row, (b) => (b - mean) * rs);
    for (let j = 0; j < d; j++) {
      const o = r * d + j;
      y[o] = xh[j] * w[j] + (bias ? bias[j] : 0);
      gw[j] += dy[o] * xh[j];
      gb[j] += dy[o];
    }
    for (let i = 0; i < d; i++) {
      let acc = 0;
      for (let j = 0; j < d; j++) {
        const jac = w[j] * rs *
          ((i === j ? 1 : 0) - (layer ? 1 / d : 0) - xh[i] * xh[j] / d);
        acc += dy[r * d + j] * jac;
      }
      gv[r * d + i] = acc;
    }
  }
  return { y, gv, gw, gb };
}

interface Case {
  shape: number[];
  kind: NormKind;
  bias: boolean;
  residual: boolean;
}

async function check(c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const d = c.shape[c.shape.length - 1];
  const f = (n: number, lo: number, hi: number) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const xv = f(size, -0.5, 1.5), resv = f(size, -1, 1);
  const wv = f(d, 0.5, 1.5), bv = f(d, -0.5, 0.5);
  const dyv = f(size, -1, 1), dsv = f(size, -1, 1);
  const v = Float64Array.from(xv, (a, i) => c.residual ? a + resv[i] : a);
  const layer = c.kind === "layer_norm";
  const want = oracle(layer, v, d, wv, c.bias ? bv : undefined, dyv);
  const x = tf.tensor(xv, c.shape), res = tf.tensor(resv, c.shape);
  const w = tf.tensor1d(wv), b = tf.tensor1d(bv);
  const dy = tf.tensor(dyv, c.shape), ds = tf.tensor(dsv, c.shape);
  const opts = { kind: c.kind, eps: EPS };
  const run = (xs: tf.Tensor[]): { y: tf.Tensor; sum?: tf.Tensor } => {
    const [x, w, b, res] = xs;
    const bias = c.bias ? b : undefined;
    if (!c.residual) return { y: webgpuNorm({ x, weight: w, bias }, opts) };
    return webgpuAddNorm({ x, residual: res, weight: w, bias }, opts);
  };
  const ins = [x, w, b, res];
  const label = JSON.stringify(c);
  const out = run(ins);
  assert.ok(relErr(await out.y.data(), want.y) <= FWD_TOL, `${label} y`);
  if (out.sum) {
    assert.ok(relErr(await out.sum.data(), v) <= FWD_TOL, `${label} sum`);
  }
  const used = [0, 1, ...(c.bias ? [2] : []), ...(c.residual ? [3] : [])];
  const grads = gradsAt(ins, used, (all) => {
    const o = run(all);
    const s = tf.sum(tf.mul(o.y, dy));
    return o.sum ? tf.add(s, tf.sum(tf.mul(o.sum, ds))) : s;
  });
  // Through the sum, x and the residual both get gv + ds.
  const gx = c.residual ? want.gv.map((g, i) => g + dsv[i]) : want.gv;
  const wantG = [gx, want.gw, want.gb, gx];
  for (const [n, i] of used.entries()) {
    const err = relErr(await grads[n].data(), wantG[i]);
    assert.ok(
      err <= GRAD_TOL,
      `${label} grad ${["x", "w", "b", "res"][i]} ${err}`,
    );
  }
  tf.dispose([...ins, dy, ds, out.y, ...(out.sum ? [out.sum] : []), ...grads]);
}

Deno.test({
  name: "webgpu norm: RMS/Layer, residual add, gradients vs float64 Jacobian",
  ignore,
  fn: () =>
    onPoisonedWebGPU(async () => {
      let seed = 1;
      for (const shape of [[3, 5, 7], [1, 70, 64], [2, 3, 768], [1, 1, 7]]) {
        for (const kind of ["rms_norm", "layer_norm"] as const) {
          for (const residual of [false, true]) {
            const n = seed++;
            const bias = kind === "layer_norm" ? n % 4 !== 3 : n % 3 === 0;
            await check({ shape, kind, bias, residual }, n);
          }
        }
      }
    }),
});

Deno.test({
  name: "webgpu norm: wrong shapes are rejected with the field named",
  ignore,
  async fn() {
    await setBackend("webgpu");
    const x = tf.zeros([2, 8]);
    const opts = { kind: "rms_norm", eps: 1e-5 } as const;
    assert.throws(
      () => webgpuNorm({ x, weight: tf.ones([7]) }, opts),
      /weight: expected shape \[8\] \(x's last axis\), received \[7\]/,
    );
    assert.throws(
      () =>
        webgpuAddNorm({
          x,
          residual: tf.zeros([1, 8]),
          weight: tf.ones([8]),
        }, opts),
      /residual: expected shape \[2,8\], received \[1,8\]/,
    );
    x.dispose();
  },
});
