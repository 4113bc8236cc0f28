/**
 * Shared by the WGSL selective-scan tests (split over two files so that
 * llvmpipe compiles their shaders in parallel): inputs, the oracle check of
 * forward, final state and every gradient. The kernels run against the
 * float64 oracle, on whatever
 * WebGPU adapter exists (llvmpipe in CI): forward y and final state
 * (relative error ≤ 1e-5), every gradient through tf.grads (≤ 1e-4), and the
 * decode step. Output buffers are filled with NaN before every kernel, so an
 * element a kernel fails to write fails the test. Relative error is
 * max |got − want| / max |want| over the whole tensor.
 */
import assert from "node:assert/strict";
import { hasWebGPU, tf } from "../kernels/backend.ts";
import { onPoisonedWebGPU, relErr } from "../kernels/webgpu/_test_util.ts";
import { rng } from "../kernels/_scan_test_data.ts";
import {
  type ScanTuning,
  setScanTuning,
  SOFTWARE_TUNING,
} from "../kernels/webgpu/scan_kernels.ts";
import {
  GRAD_OF,
  referenceScan,
  referenceScanGrad,
  type RefScanInputs,
} from "../kernels/scan_reference.ts";
import { webgpuSelectiveScan } from "../kernels/webgpu/selective_scan_webgpu.ts";

/** No adapter here: the tests are reported as ignored. */
export const ignore = !(await hasWebGPU());

/** One test shape. */
export interface Case {
  b: number;
  l: number;
  dIn: number;
  n: number;
  full: boolean;
}

/** Random float32 inputs of realistic scale (S4D-real A, softplus'd Δ). */
export function makeInputs(c: Case, seed: number): RefScanInputs {
  const r = rng(seed);
  const f = (len: number, lo: number, hi: number) =>
    Float32Array.from({ length: len }, () => lo + (hi - lo) * r());
  const { b, l, dIn, n, full } = c;
  const A = Float32Array.from(
    { length: dIn * n },
    (_, i) => -(1 + (i % n)) * (0.5 + r()),
  );
  return {
    b,
    l,
    dIn,
    n,
    u: f(b * l * dIn, -1, 1),
    delta: full ? f(b * l * dIn, -4, 0) : f(b * l * dIn, 0.001, 0.1),
    A,
    B: f(b * l * n, -1, 1),
    C: f(b * l * n, -1, 1),
    ...(full
      ? {
        D: f(dIn, -1, 1),
        z: f(b * l * dIn, -3, 3),
        deltaBias: f(dIn, -2, 0),
        deltaSoftplus: true,
        initialState: f(b * dIn * n, -1, 1),
      }
      : {}),
  };
}

type Named = Record<string, tf.Tensor>;

export function tensors(p: RefScanInputs): Named {
  const { b, l, dIn, n } = p;
  const t: Named = {
    u: tf.tensor3d(p.u as Float32Array, [b, l, dIn]),
    delta: tf.tensor3d(p.delta as Float32Array, [b, l, dIn]),
    A: tf.tensor2d(p.A as Float32Array, [dIn, n]),
    B: tf.tensor3d(p.B as Float32Array, [b, l, n]),
    C: tf.tensor3d(p.C as Float32Array, [b, l, n]),
  };
  if (p.D) t.D = tf.tensor1d(p.D as Float32Array);
  if (p.z) t.z = tf.tensor3d(p.z as Float32Array, [b, l, dIn]);
  if (p.deltaBias) t.deltaBias = tf.tensor1d(p.deltaBias as Float32Array);
  if (p.initialState) {
    t.initialState = tf.tensor3d(p.initialState as Float32Array, [b, dIn, n]);
  }
  return t;
}

/**
 * Checks forward, final state and (when `grads`) every gradient against the
 * oracle; the loss weighs y and, unless `yOnly`, the final state (with
 * `yOnly` tfjs hands the backward CPU-built zeros as the state's gradient).
 */
export async function checkCase(
  c: Case,
  seed: number,
  grads: boolean,
  { yOnly = false }: { yOnly?: boolean } = {},
) {
  const p = makeInputs(c, seed);
  const want = referenceScan(p);
  const t = tensors(p);
  const { y, state } = webgpuSelectiveScan(
    { ...t, deltaSoftplus: p.deltaSoftplus } as never,
    { returnState: true },
  );
  const ey = relErr(await y.data(), want.y);
  const es = relErr(await state!.data(), want.state);
  assert.ok(ey <= 1e-5, `forward y ${JSON.stringify(c)}: rel err ${ey}`);
  assert.ok(es <= 1e-5, `final state ${JSON.stringify(c)}: rel err ${es}`);
  tf.dispose([y, state!]);
  if (!grads) return tf.dispose(Object.values(t));
  const r = rng(seed + 7);
  const gy = Float32Array.from(want.y, () => r() * 2 - 1);
  const gs = Float32Array.from(want.state, () => yOnly ? 0 : r() * 2 - 1);
  const names = Object.keys(t);
  const gyT = tf.tensor3d(gy, [c.b, c.l, c.dIn]);
  const gsT = tf.tensor3d(gs, [c.b, c.dIn, c.n]);
  const got = tf.grads((...xs: tf.Tensor[]) => {
    const m = Object.fromEntries(names.map((k, i) => [k, xs[i]]));
    const out = webgpuSelectiveScan(
      { ...m, deltaSoftplus: p.deltaSoftplus } as never,
      { returnState: true },
    );
    const loss = tf.sum(tf.mul(out.y, gyT));
    return yOnly ? loss : tf.add(loss, tf.sum(tf.mul(out.state!, gsT)));
  })(names.map((k) => t[k]));
  const ref = referenceScanGrad(p, gy, gs) as unknown as Record<
    string,
    Float64Array
  >;
  for (let i = 0; i < names.length; i++) {
    const e = relErr(
      await got[i].data(),
      ref[GRAD_OF[names[i] as keyof typeof GRAD_OF]],
    );
    assert.ok(
      e <= 1e-4,
      `gradient of ${names[i]} ${JSON.stringify(c)}: rel err ${e}`,
    );
  }
  tf.dispose([...got, gyT, gsT, ...Object.values(t)]);
}

/**
 * Runs `fn` on the webgpu backend with NaN-poisoned outputs, the small
 * launch shapes {@linkcode SOFTWARE_TUNING} (the GPU bench checks the
 * default ones against the oracle on the GPU) and the given segment
 * lengths and other tuning, restoring the defaults afterwards.
 */
export async function poisoned(
  tuning: { segLen: number; backwardSegLen: number } & Partial<ScanTuning>,
  fn: () => Promise<void>,
): Promise<void> {
  setScanTuning({ ...SOFTWARE_TUNING, fwdKernel: "chunked", ...tuning });
  try {
    await onPoisonedWebGPU(fn);
  } finally {
    setScanTuning("defaults");
  }
}
