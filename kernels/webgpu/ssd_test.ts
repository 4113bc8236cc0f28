/**
 * The WGSL Mamba-2 SSD kernels against the float64 oracle
 * (`../ssd_reference.ts`), outputs poisoned with NaN first:
 * - the chunked forward (y and the final state) at lengths 1, chunk − 1,
 *   chunk, chunk + 1 and a few chunks, 2 groups of 2 heads, an initial
 *   state, D and dtBias; a binding time-step limit; a chunk and head dim
 *   larger than one 64-wide tile (several tiles, the causal tile skip);
 * - the one-token step (no time-step limit, as the official step);
 * - the gated RMSNorm per group and over the whole width against a float64
 *   form written here.
 * Tolerance ≤ 1e-5 relative (max |got − want| / max |want|).
 */
import assert from "node:assert/strict";
import { hasWebGPU, tf } from "../backend.ts";
import { referenceSsd, type RefSsdInputs } from "../ssd_reference.ts";
import { makeSsdCase, type SsdCaseSpec } from "../_ssd_test_data.ts";
import { rng } from "../_scan_test_data.ts";
import { onPoisonedWebGPU, relErr } from "./_test_util.ts";
import {
  gatedNormLaunch,
  ssdForwardPlan,
  webgpuGatedNorm,
  webgpuSsd,
  webgpuSsdStep,
} from "./ssd.ts";

const ignore = !(await hasWebGPU());
const TOL = 1e-5;
const opts = { ignore, sanitizeResources: false, sanitizeOps: false };

/** Runs the WGSL forward on case q; returns its y and state errors. */
async function forwardErrors(q: RefSsdInputs, chunk: number) {
  const { b, l, h, p, g, n } = q;
  const f = (v: ArrayLike<number>) => Float32Array.from(v);
  const ts = {
    x: tf.tensor4d(f(q.x), [b, l, h, p]),
    dt: tf.tensor3d(f(q.dt), [b, l, h]),
    A: tf.tensor1d(f(q.A)),
    B: tf.tensor4d(f(q.B), [b, l, g, n]),
    C: tf.tensor4d(f(q.C), [b, l, g, n]),
    D: tf.tensor1d(f(q.D!)),
    dtBias: tf.tensor1d(f(q.dtBias!)),
    initialState: tf.tensor4d(f(q.initialState!), [b, h, p, n]),
  };
  const got = webgpuSsd({ ...ts, dtLimit: q.dtLimit }, chunk);
  const want = referenceSsd(q);
  const errs = {
    y: relErr(await got.y.data(), want.y),
    state: relErr(await got.state.data(), want.state),
  };
  tf.dispose([...Object.values(ts), got.y, got.state]);
  return errs;
}

const CHUNK = 8;
const SMALL: Omit<SsdCaseSpec, "l"> = {
  b: 2,
  h: 4,
  p: 4,
  g: 2,
  n: 8,
  full: true,
};

Deno.test({
  name:
    `webgpu SSD forward vs float64 oracle at l = 1, 7, 8, 9, 29 (chunk ${CHUNK}, 2 groups, initial state) ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      for (const l of [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5]) {
        const e = await forwardErrors(makeSsdCase({ ...SMALL, l }, l), CHUNK);
        assert.ok(e.y <= TOL, `l=${l}: y rel err ${e.y}`);
        assert.ok(e.state <= TOL, `l=${l}: state rel err ${e.state}`);
      }
    }),
});

Deno.test({
  name:
    `webgpu SSD forward: a binding time-step limit, as the oracle with it ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      const q = makeSsdCase({ ...SMALL, l: 21, dtLimit: [0.05, 0.3] }, 3);
      const free = referenceSsd({ ...q, dtLimit: undefined });
      const clamped = referenceSsd(q);
      assert.ok(relErr(free.y, clamped.y) > 1e-3, "the limit must bind");
      const e = await forwardErrors(q, CHUNK);
      assert.ok(e.y <= TOL && e.state <= TOL, JSON.stringify(e));
    }),
});

Deno.test({
  name:
    `webgpu SSD forward: chunk 80 and head dim 70 (several 64-wide tiles), l = 170; chunk 300 (scan blocks), l = 610 ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      const q = makeSsdCase(
        { b: 1, l: 170, h: 2, p: 70, g: 1, n: 4, full: true },
        5,
      );
      const e = await forwardErrors(q, 80);
      assert.ok(e.y <= TOL, `y rel err ${e.y}`);
      assert.ok(e.state <= TOL, `state rel err ${e.state}`);
      // chunk 300: the time-step scan runs in blocks of 256 with a carry
      const q2 = makeSsdCase(
        { b: 1, l: 610, h: 2, p: 4, g: 2, n: 4, full: true },
        6,
      );
      const e2 = await forwardErrors(q2, 300);
      assert.ok(e2.y <= TOL, `chunk 300: y rel err ${e2.y}`);
      assert.ok(e2.state <= TOL, `chunk 300: state rel err ${e2.state}`);
    }),
});

Deno.test({
  name:
    `webgpu SSD forward at l = 4096 (chunk 64; Δ' up to 1, so ΣΔ'A spans far past float32's exponent range) ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      const q = makeSsdCase(
        { b: 1, l: 4096, h: 2, p: 4, g: 1, n: 4, full: true },
        8,
      );
      let sum = 0; // Σ Δ'A of head 0: exp of it is 0 in float32
      for (let t = 0; t < q.l; t++) {
        sum += Math.log1p(Math.exp(q.dt[t * q.h] + q.dtBias![0])) * q.A[0];
      }
      assert.ok(sum < -104, `Σ Δ'A = ${sum}`);
      const e = await forwardErrors(q, 64);
      assert.ok(e.y <= TOL, `y rel err ${e.y}`);
      assert.ok(e.state <= TOL, `state rel err ${e.state}`);
    }),
});

Deno.test({
  name: `webgpu SSD step vs float64 oracle (one step, 2 groups) ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      const q = makeSsdCase({ ...SMALL, n: 70, l: 1 }, 9);
      const { b, h, p, g, n } = q;
      const f = (v: ArrayLike<number>) => Float32Array.from(v);
      const got = webgpuSsdStep({
        x: tf.tensor3d(f(q.x), [b, h, p]),
        dt: tf.tensor2d(f(q.dt), [b, h]),
        A: tf.tensor1d(f(q.A)),
        B: tf.tensor3d(f(q.B), [b, g, n]),
        C: tf.tensor3d(f(q.C), [b, g, n]),
        D: tf.tensor1d(f(q.D!)),
        dtBias: tf.tensor1d(f(q.dtBias!)),
        state: tf.tensor4d(f(q.initialState!), [b, h, p, n]),
      });
      const want = referenceSsd(q);
      const ey = relErr(await got.y.data(), want.y);
      const es = relErr(await got.state.data(), want.state);
      assert.ok(ey <= TOL, `y rel err ${ey}`);
      assert.ok(es <= TOL, `state rel err ${es}`);
    }),
});

/** float64 RMS(y · SiLU(z)) · w over groups of `size`. */
function gatedNormF64(
  y: Float32Array,
  z: Float32Array | undefined,
  w: Float32Array | undefined,
  d: number,
  size: number,
  eps: number,
): Float64Array {
  const out = new Float64Array(y.length);
  for (let r = 0; r < y.length / d; r++) {
    for (let j0 = 0; j0 < d; j0 += size) {
      const v = Array.from({ length: size }, (_, j) => {
        const i = r * d + j0 + j;
        return z ? y[i] * z[i] / (1 + Math.exp(-z[i])) : y[i];
      });
      const ms = v.reduce((a, x) => a + x * x, 0) / size;
      v.forEach((x, j) =>
        out[r * d + j0 + j] = x / Math.sqrt(ms + eps) * (w ? w[j0 + j] : 1)
      );
    }
  }
  return out;
}

Deno.test({
  name:
    `webgpu gated RMSNorm per group (4 groups of 30), whole width (120), and without gate or weight (Falcon-Mamba's) vs float64 ≤ ${TOL}`,
  ...opts,
  fn: () =>
    onPoisonedWebGPU(async () => {
      const r = rng(4);
      const [rows, d] = [5, 120];
      const arr = (len: number, s: number) =>
        Float32Array.from({ length: len }, () => s * (2 * r() - 1));
      const [y, z, w] = [arr(rows * d, 2), arr(rows * d, 3), arr(d, 1)];
      const cases: [number, number, boolean][] = [
        [30, 1e-5, true],
        [120, 1e-3, true],
        [120, 1e-6, false],
      ];
      for (const [size, eps, gated] of cases) {
        const got = webgpuGatedNorm(
          tf.tensor2d(y, [rows, d]),
          gated ? tf.tensor2d(z, [rows, d]) : undefined,
          gated ? tf.tensor1d(w) : undefined,
          size,
          eps,
        );
        const e = relErr(
          await got.data(),
          gatedNormF64(
            y,
            gated ? z : undefined,
            gated ? w : undefined,
            d,
            size,
            eps,
          ),
        );
        assert.ok(e <= TOL, `size ${size}, gated ${gated}: rel err ${e}`);
      }
    }),
});

Deno.test("ssdForwardPlan and gatedNormLaunch refuse bad sizes by name", () => {
  const device = {
    limits: { maxComputeWorkgroupsPerDimension: 65535 },
  } as unknown as GPUDevice;
  const rows = { stride: 8, offset: 0 };
  const dims = {
    b: 1,
    l: 4,
    h: 4,
    p: 2,
    g: 2,
    n: 2,
    chunk: 2,
    x: rows,
    dt: rows,
    B: rows,
    C: rows,
    hasInit: false,
  };
  assert.equal(ssdForwardPlan(device, dims).steps.length, 5);
  assert.throws(
    () => ssdForwardPlan(device, { ...dims, chunk: 0 }),
    /ssdForwardPlan: chunk: expected a positive integer, received 0/,
  );
  assert.throws(
    () => ssdForwardPlan(device, { ...dims, g: 3 }),
    /ssdForwardPlan: g: expected a divisor of h = 4, received 3/,
  );
  assert.throws(
    () =>
      gatedNormLaunch(device, {
        rows: 2,
        d: 12,
        size: 5,
        eps: 1e-5,
        y: rows,
        hasW: false,
      }),
    /gatedNormLaunch: size: expected a divisor of d = 12, received 5/,
  );
});
