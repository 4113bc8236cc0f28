/**
 * The fused WGSL causal conv1d + bias + SiLU against a float64 oracle (plain
 * loops): u, the new history, and the gradients to x's whole buffer, the
 * history, the weight and the bias, over ragged shapes, with and without
 * bias, history and a history gradient. Output buffers are filled with NaN
 * before every kernel, so an element a kernel leaves unwritten fails.
 * Relative error is max |got − want| / max |want| over the tensor.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../backend.ts";
import { gradsAt, onPoisonedWebGPU, relErr } from "./_test_util.ts";
import { rng } from "../_scan_test_data.ts";
import { webgpuCausalConv1dSilu } from "./conv1d.ts";

const ignore = !(await hasWebGPU());
const FWD_TOL = 1e-5;
const GRAD_TOL = 1e-4;

interface Case {
  b: number;
  l: number;
  dIn: number;
  k: number;
  W: number;
  off: number;
  bias: boolean;
  hist: boolean;
  dh: boolean;
}

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** float64 forward and gradients of Σ du·u + Σ dh·hout. */
function oracle(c: Case, v: Record<string, Float32Array>) {
  const { b, l, dIn, k, W, off } = c;
  const h = k - 1;
  const xpad = (bi: number, s: number, ch: number) =>
    s < h
      ? (c.hist ? v.hist[(bi * h + s) * dIn + ch] : 0)
      : v.x[(bi * l + s - h) * W + off + ch];
  const pre = (bi: number, t: number, ch: number) => {
    let acc = c.bias ? v.bias[ch] : 0;
    for (let j = 0; j < k; j++) acc += v.w[ch * k + j] * xpad(bi, t + j, ch);
    return acc;
  };
  const u = new Float64Array(b * l * dIn);
  const hout = new Float64Array(b * h * dIn);
  const g = new Float64Array(b * l * dIn); // du · SiLU'(pre)
  const gx = new Float64Array(b * l * W);
  const gh = new Float64Array(b * h * dIn);
  const gw = new Float64Array(dIn * k);
  const gb = new Float64Array(dIn);
  for (let bi = 0; bi < b; bi++) {
    for (let ch = 0; ch < dIn; ch++) {
      for (let t = 0; t < l; t++) {
        const i = (bi * l + t) * dIn + ch;
        const p = pre(bi, t, ch);
        const s = sig(p);
        u[i] = p * s;
        g[i] = v.du[i] * s * (1 + p * (1 - s));
        gb[ch] += g[i];
        for (let j = 0; j < k; j++) {
          gw[ch * k + j] += g[i] * xpad(bi, t + j, ch);
        }
      }
      for (let s = 0; s < l + h; s++) {
        let acc = c.dh && s >= l ? v.dh[(bi * h + s - l) * dIn + ch] : 0;
        for (let j = 0; j < k; j++) {
          const t = s - j;
          if (t >= 0 && t < l) {
            acc += v.w[ch * k + j] * g[(bi * l + t) * dIn + ch];
          }
        }
        if (s < h) gh[(bi * h + s) * dIn + ch] = acc;
        else gx[(bi * l + s - h) * W + off + ch] = acc;
      }
      for (let s = 0; s < h; s++) {
        hout[(bi * h + s) * dIn + ch] = xpad(bi, l + s, ch);
      }
    }
  }
  return { u, hout, gx, gh, gw, gb };
}

async function check(c: Case, seed: number): Promise<void> {
  const { b, l, dIn, k, W } = c;
  const r = rng(seed);
  const f = (n: number) => Float32Array.from({ length: n }, () => 2 * r() - 1);
  const v = {
    x: f(b * l * W),
    hist: f(b * (k - 1) * dIn),
    w: f(dIn * k),
    bias: f(dIn),
    du: f(b * l * dIn),
    dh: f(b * (k - 1) * dIn),
  };
  const want = oracle(c, v);
  const x = tf.tensor3d(v.x, [b, l, W]);
  const w = tf.tensor3d(v.w, [dIn, 1, k]);
  const hist = tf.tensor3d(v.hist, [b, k - 1, dIn]);
  const bias = tf.tensor1d(v.bias);
  const du = tf.tensor3d(v.du, [b, l, dIn]);
  const dh = tf.tensor3d(v.dh, [b, k - 1, dIn]);
  const run = (xs: tf.Tensor[]) =>
    webgpuCausalConv1dSilu({
      x: xs[0] as tf.Tensor3D,
      weight: xs[1] as tf.Tensor3D,
      history: c.hist ? xs[2] as tf.Tensor3D : undefined,
      bias: c.bias ? xs[3] as tf.Tensor1D : undefined,
    }, { offset: c.off });
  const ins = [x, w, hist, bias];
  const out = run(ins);
  const label = JSON.stringify(c);
  const e = [
    relErr(await out.u.data(), want.u),
    relErr(await out.history.data(), want.hout),
  ];
  assert.ok(e.every((x) => x <= FWD_TOL), `${label} forward ${e}`);
  const used = [0, 1, ...(c.hist ? [2] : []), ...(c.bias ? [3] : [])];
  const grads = gradsAt(ins, used, (all) => {
    const o = run(all);
    const s = tf.sum(tf.mul(o.u, du));
    return c.dh ? tf.add(s, tf.sum(tf.mul(o.history, dh))) : s;
  });
  const wantG = [want.gx, want.gw, want.gh, want.gb];
  for (const [n, i] of used.entries()) {
    const err = relErr(await grads[n].data(), wantG[i]);
    assert.ok(
      err <= GRAD_TOL,
      `${label} grad ${["x", "w", "h", "b"][i]} ${err}`,
    );
  }
  tf.dispose([...ins, du, dh, out.u, out.history, ...grads]);
}

Deno.test({
  name: "webgpu conv1d+SiLU: forward, history, gradients vs float64 oracle",
  ignore,
  fn: () =>
    onPoisonedWebGPU(async () => {
      let seed = 1;
      for (const b of [1, 3]) {
        for (const l of [1, 5, 70]) {
          for (const dIn of [3, 65]) {
            for (const k of [2, 4]) {
              const n = seed++;
              const strided = n % 3 === 0;
              await check({
                b,
                l,
                dIn,
                k,
                W: strided ? 2 * dIn + 1 : (n % 3 === 1 ? 2 * dIn : dIn),
                off: strided ? dIn + 1 : 0,
                bias: n % 2 === 0,
                hist: n % 4 < 2,
                dh: n % 5 < 3,
              }, n);
            }
          }
        }
      }
    }),
});

Deno.test({
  name: "webgpu conv1d+SiLU: wrong shapes are rejected with the field named",
  ignore,
  async fn() {
    await setBackend("webgpu");
    const x = tf.zeros([1, 4, 6]) as tf.Tensor3D;
    const weight = tf.zeros([3, 1, 4]) as tf.Tensor3D;
    assert.throws(
      () => webgpuCausalConv1dSilu({ x, weight }, { offset: 4 }),
      /offset: expected an integer in \[0, 3\]/,
    );
    assert.throws(
      () =>
        webgpuCausalConv1dSilu({
          x,
          weight,
          history: tf.zeros([1, 2, 3]) as tf.Tensor3D,
        }),
      /history: expected shape \[1,3,3\], received \[1,2,3\]/,
    );
    tf.dispose([x, weight]);
  },
});
