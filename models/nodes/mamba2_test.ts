/**
 * The `mamba2` node kind: its ops against float64 loops (the gated norm per
 * group and over the whole width; the `ssd` op's (b, l, dIn) ↔ (b, l, h, p)
 * and (b, dIn, n) state layout against the float64 SSD oracle, its step
 * op continuing from that state), the official initialisation, the program
 * it lowers to, and a mixed Mamba-1 / Falcon / Mamba-2 stack's prefill +
 * steps equal to its parallel forward across chunk boundaries.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../../kernels/backend.ts";
import { referenceSsd } from "../../kernels/ssd_reference.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  mamba2,
  residual,
  rmsNorm,
} from "../../dsl/builder.ts";
import { resolveArchitecture } from "../../dsl/resolve.ts";
import { buildModel } from "../model.ts";
import { initialValues } from "../init.ts";
import { lowerArchitecture } from "../program/lower.ts";
import { formatProgram } from "../program/program.ts";
import { SSM_OPS } from "./_ssm_ops.ts";
import { relativeError } from "../../tests/_util.ts";

await setBackend("cpu");
const env = {
  linear: (() => {
    throw new Error("unused");
  }) as never,
  seed: 0,
};

/** Deterministic values in (−1, 1). */
const values = (size: number, seed: number) =>
  Float32Array.from({ length: size }, (_, i) => Math.sin(seed + i * 1.7));

Deno.test("gated_rms_norm: y · SiLU(z), RMS per group or over all dIn, times the weight (float64 loops, ≤ 1e-6)", async () => {
  const [rows, dIn] = [3, 12];
  const y = values(rows * dIn, 1), z = values(rows * dIn, 2);
  const w = values(dIn, 3);
  for (const [size, eps] of [[4, 1e-5], [12, 1e-3]]) {
    const want = new Float64Array(rows * dIn);
    for (let r = 0; r < rows; r++) {
      for (let g0 = 0; g0 < dIn; g0 += size) {
        let ms = 0;
        const gated: number[] = [];
        for (let i = g0; i < g0 + size; i++) {
          const zi = z[r * dIn + i];
          const v = y[r * dIn + i] * zi / (1 + Math.exp(-zi));
          gated.push(v);
          ms += v * v;
        }
        const inv = 1 / Math.sqrt(ms / size + eps);
        gated.forEach((v, j) => want[r * dIn + g0 + j] = v * inv * w[g0 + j]);
      }
    }
    const [out] = SSM_OPS.gated_rms_norm(
      [
        tf.tensor2d(y, [rows, dIn]),
        tf.tensor2d(z, [rows, dIn]),
        tf.tensor1d(w),
      ],
      { groupSize: size, eps },
      env,
    );
    const got = await out.data() as Float32Array;
    assert.ok(
      relativeError(got, Float32Array.from(want)) <= 1e-6,
      `size ${size}`,
    );
  }
});

Deno.test("ssd op: (b, l, dIn) and the (b, dIn, n) state are the oracle's (b, l, h, p) and (b, h, p, n); ssd_step continues from it (≤ 1e-5)", async () => {
  const [b, l, h, p, g, n] = [2, 11, 4, 3, 2, 5];
  const x = values(b * l * h * p, 1), dt = values(b * l * h, 2);
  const B = values(b * l * g * n, 3), C = values(b * l * g * n, 4);
  const A = Float32Array.from({ length: h }, (_, i) => -0.5 - i);
  const D = values(h, 5), dtBias = values(h, 6);
  const ref = referenceSsd({
    b,
    l,
    h,
    p,
    g,
    n,
    x,
    dt,
    A,
    B,
    C,
    D,
    dtBias,
    dtSoftplus: true,
    dtLimit: [0.1, 0.9],
  });
  const [y, state] = SSM_OPS.ssd([
    tf.tensor3d(x, [b, l, h * p]),
    tf.tensor3d(dt, [b, l, h]),
    tf.tensor1d(A),
    tf.tensor3d(B, [b, l, g * n]),
    tf.tensor3d(C, [b, l, g * n]),
    tf.tensor1d(D),
    tf.tensor1d(dtBias),
  ], {
    heads: h,
    groups: g,
    chunkSize: 4,
    dtLo: 0.1,
    dtHi: 0.9,
    returnState: true,
  }, env);
  assert.deepEqual(state.shape, [b, h * p, n]);
  const close = (got: ArrayLike<number>, want: Float64Array, what: string) => {
    const err = relativeError(Float32Array.from(got), Float32Array.from(want));
    assert.ok(err <= 1e-5, `${what}: ${err.toExponential(2)}`);
  };
  close(await y.data(), ref.y, "y");
  close(await state.data(), ref.state, "state");
  // one more token: the step op from that state = the oracle over l + 1
  // (no dtLimit in the step: the extra token's Δ stays inside [0.1, 0.9])
  const x1 = values(b * h * p, 7), B1 = values(b * g * n, 8);
  const C1 = values(b * g * n, 9);
  const dt1 = Float32Array.from({ length: b * h }, () => -0.5); // softplus ∈ (0.1, 0.9)
  const [yStep] = SSM_OPS.ssd_step(
    [
      tf.tensor2d(x1, [b, h * p]),
      tf.tensor2d(dt1, [b, h]),
      tf.tensor1d(A),
      tf.tensor2d(B1, [b, g * n]),
      tf.tensor2d(C1, [b, g * n]),
      tf.tensor1d(D),
      tf.tensor1d(new Float32Array(h)),
      state,
    ],
    {},
    env,
  );
  const ref1 = referenceSsd({
    b,
    l: 1,
    h,
    p,
    g,
    n,
    x: x1,
    dt: dt1,
    A,
    B: B1,
    C: C1,
    D,
    dtSoftplus: true,
    initialState: ref.state,
  });
  close(await yStep.data(), ref1.y, "step y");
});

const mixed = () =>
  architecture({
    name: "mixed",
    nodes: [
      embedding({ vocab: 20, dim: 16 }),
      residual({
        mixer: mamba2({ headDim: 8, groups: 2, dState: 6, chunkSize: 4 }),
      }),
      residual({ mixer: mamba({ dState: 4, bcdtRmsEps: 1e-6 }) }),
      residual({ mixer: mamba({ dState: 4 }) }),
      residual({
        mixer: mamba2({
          headDim: 4,
          groups: 1,
          dState: 3,
          chunkSize: 8,
          norm: "transformers",
          convBias: false,
          bias: true,
        }),
      }),
      rmsNorm(),
      lmHead({ tied: false }),
    ],
  });

Deno.test("mamba2 init: official (A_log = log U(1, 16), softplus(dt_bias) in [dtMin, dtMax], D and norm weight ones)", () => {
  const r = resolveArchitecture(mixed());
  const v = initialValues(r, 7);
  const p = "backbone.layers.0.mixer";
  const aLog = v.get(`${p}.A_log`)!.data;
  assert.deepEqual(v.get(`${p}.A_log`)!.shape, [4]);
  assert.ok(aLog.every((a) => a >= 0 && a <= Math.log(16)));
  assert.ok(new Set(aLog).size === aLog.length, "A_log drawn, not constant");
  for (const b of v.get(`${p}.dt_bias`)!.data) {
    const dt = Math.log1p(Math.exp(b));
    assert.ok(dt >= 0.001 * (1 - 1e-5) && dt <= 0.1 * (1 + 1e-5), `${dt}`);
  }
  assert.ok(v.get(`${p}.D`)!.data.every((d) => d === 1));
  assert.ok(v.get(`${p}.norm.weight`)!.data.every((d) => d === 1));
  assert.deepEqual(v.get(`${p}.in_proj.weight`)!.shape, [
    2 * 32 + 2 * 2 * 6 + 4,
    16,
  ]);
  assert.deepEqual(v.get(`${p}.conv1d.weight`)!.shape, [32 + 24, 1, 4]);
  assert.equal(v.has("backbone.layers.3.mixer.conv1d.bias"), false);
  assert.ok(
    v.get("backbone.layers.3.mixer.in_proj.bias")!.data.every((x) => x === 0),
  );
});

Deno.test("mamba2 lowering: the step program steps the SSD without the time-step limit; the forward one clamps", () => {
  const r = resolveArchitecture(mixed());
  const step = formatProgram(lowerArchitecture(r, "step"));
  assert.match(
    step,
    /layers\.0\.mixer\.ssd_y \[b,32\], layers\.0\.mixer\.ssm_state \[b,32,6\] = ssd_step\(/,
  );
  assert.doesNotMatch(step, /dtLo/);
  const fwd = formatProgram(lowerArchitecture(r, "forward"));
  assert.match(fwd, /= ssd\(.*dtLo=0, dtHi=null/);
  assert.match(fwd, /gated_rms_norm\(.*groupSize=16/); // official: 32 / 2 groups
  assert.match(fwd, /layers\.3\.mixer\.normed .*groupSize=32,/); // transformers: all 32
  assert.match(fwd, /layers\.1\.mixer\.B_normed \[b,l,4\] = rms_unit/);
  assert.doesNotMatch(fwd, /layers\.2\.mixer\.B_normed/);
});

Deno.test("mixed stack: prefill + recurrent steps equal the parallel forward across chunk boundaries (cpu, ≤ 1e-5)", async () => {
  const model = buildModel(mixed(), { seed: 1 });
  const ids = [
    Array.from({ length: 19 }, (_, i) => (i * 7) % 20),
    Array.from({ length: 19 }, (_, i) => (i * 3 + 1) % 20),
  ];
  const full = await model.forward(ids).data() as Float32Array;
  const v = 20, l = 19, split = 9;
  const pre = model.prefill(ids.map((r) => r.slice(0, split)));
  const out = new Float32Array(2 * l * v);
  const preData = await pre.logits.data();
  for (let i = 0; i < 2; i++) {
    out.set(preData.subarray(i * split * v, (i + 1) * split * v), i * l * v);
  }
  let state = pre.state;
  for (let t = split; t < l; t++) {
    const s = model.step(ids.map((r) => r[t]), state);
    tf.dispose(state);
    state = s.state;
    const d = await s.logits.data();
    for (let i = 0; i < 2; i++) {
      out.set(d.subarray(i * v, (i + 1) * v), (i * l + t) * v);
    }
  }
  const err = relativeError(out, full);
  assert.ok(err <= 1e-5, err.toExponential(2));
  model.dispose();
});
