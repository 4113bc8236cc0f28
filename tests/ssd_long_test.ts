/**
 * The chunked Mamba-2 SSD on long and hard sequences, against the float64
 * oracle (relative error ≤ 1e-5 for y and the final state):
 * - l = 16384 with 16 heads in 8 groups at the default chunk 256, on wasm:
 *   runs in segments that carry the state and leaks no tensor. The 16 heads
 *   are 8 copies of 2 random ones and the 8 groups 8 copies of 1 (heads of
 *   different groups never mix), so the oracle runs on 2 heads;
 * - decays far below float32's range followed, in the same chunk, by tiny
 *   ones: a form that took exponents as differences of long prefix sums
 *   would lose them to the prefix's rounding (measured: 2e-3 here);
 * - the initialisation regime (Δ' in [1e-3, 0.1], A = −1, −6, −11, −16) at l = 8192;
 * - the gradient of every input at l = 1000 and 4096 (≤ 1e-4 against the
 *   hand-written float64 gradient).
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import { ssdChunked } from "../kernels/ssd_chunked.ts";
import { referenceSsd, type RefSsdInputs } from "../kernels/ssd_reference.ts";
import type { SsdInputs } from "../kernels/ssd_types.ts";
import {
  makeSsdCase,
  ssdGradErrors,
  toSsdTensors,
} from "../kernels/_ssd_test_data.ts";
import { relError, rng } from "../kernels/_scan_test_data.ts";

const TOL = 1e-5;

function dispose(inputs: SsdInputs): void {
  tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
}

async function check(
  q: RefSsdInputs,
  chunkSize: number,
  label: string,
): Promise<void> {
  const want = referenceSsd(q);
  const inputs = toSsdTensors(q);
  const { y, state } = ssdChunked(inputs, { chunkSize });
  const errY = relError(await y.data(), want.y);
  const errS = relError(await state.data(), want.state);
  assert.ok(errY <= TOL, `${label}: y relative error ${errY} > ${TOL}`);
  assert.ok(errS <= TOL, `${label}: state relative error ${errS} > ${TOL}`);
  tf.dispose([y, state]);
  dispose(inputs);
}

Deno.test("ssdChunked at l = 16384, 16 heads in 8 groups matches the oracle (wasm)", async () => {
  await setBackend("wasm");
  const [l, h, p, g, n, copies] = [16384, 2, 4, 1, 8, 8];
  const q = makeSsdCase({ b: 1, l, h, p, g, n, full: true }, 2);
  const want = referenceSsd(q);
  const small = toSsdTensors(q);
  const wide = <T extends tf.Tensor>(t: T, reps: number[]) =>
    tf.tile(t, reps) as T;
  const inputs: SsdInputs = {
    ...small,
    x: wide(small.x, [1, 1, copies, 1]),
    dt: wide(small.dt, [1, 1, copies]),
    A: wide(small.A, [copies]),
    B: wide(small.B, [1, 1, copies, 1]),
    C: wide(small.C, [1, 1, copies, 1]),
    D: wide(small.D!, [copies]),
    dtBias: wide(small.dtBias!, [copies]),
    initialState: wide(small.initialState!, [1, copies, 1, 1]),
  };
  const before = tf.memory().numTensors;
  const { y, state } = ssdChunked(inputs);
  assert.equal(tf.memory().numTensors, before + 2, "tensors leaked");
  // (1, l, copies·h, p) and (1, copies·h, p, n): head k is head k mod h
  const wantY = Float64Array.from(
    { length: l * copies * h * p },
    (_, i) => {
      const t = Math.floor(i / (copies * h * p));
      return want.y[t * h * p + (i % (h * p))];
    },
  );
  const wantS = Float64Array.from(
    { length: copies * h * p * n },
    (_, i) => want.state[i % (h * p * n)],
  );
  const errY = relError(await y.data(), wantY);
  const errS = relError(await state.data(), wantS);
  assert.ok(errY <= TOL, `y: relative error ${errY} > ${TOL}`);
  assert.ok(errS <= TOL, `state: relative error ${errS} > ${TOL}`);
  tf.dispose([y, state]);
  dispose(inputs);
  dispose(small);
});

Deno.test("ssdChunked keeps tiny decays after huge ones in one chunk (wasm)", async () => {
  await setBackend("wasm");
  const [l, h] = [512, 2];
  const q = makeSsdCase({ b: 1, l, h, p: 3, g: 1, n: 4 }, 5);
  const r = rng(8);
  // A = −1, −2; per chunk of 256: 100 steps of Δ' ≈ 50, then Δ' ≈ 1e-3
  const dt = new Float32Array(l * h);
  for (let t = 0; t < l; t++) {
    for (let k = 0; k < h; k++) {
      dt[t * h + k] = (t % 256 < 100 ? 50 : 1e-3) * (0.5 + r());
    }
  }
  await check(
    { ...q, dt, A: Float32Array.of(-1, -2) },
    256,
    "huge then tiny decays",
  );
});

Deno.test("ssdChunked in the initialisation regime at l = 8192 (wasm)", async () => {
  await setBackend("wasm");
  const [l, h, g] = [8192, 4, 2];
  const q = makeSsdCase({ b: 1, l, h, p: 2, g, n: 16, dtMax: 0.1 }, 6);
  await check(
    { ...q, A: Float32Array.from({ length: h }, (_, k) => -(1 + 5 * k)) },
    64,
    "initialisation regime",
  );
});

Deno.test("ssdChunked gradients of every input at l = 1000 and 4096 (wasm)", async () => {
  await setBackend("wasm");
  const spec = { b: 1, h: 4, p: 2, g: 2, n: 2, dtLimit: [0, 0.5] as const };
  for (
    const [l, chunkSize] of [[1000, 64], [4096, 256], [4096, 16]] as const
  ) {
    const errors = await ssdGradErrors({ ...spec, l }, {
      chunkSize,
      segmentChunks: chunkSize === 16 ? 32 : undefined,
    });
    for (const [name, err] of Object.entries(errors)) {
      assert.ok(
        err <= 1e-4,
        `d${name}: relative error ${err} > 1e-4 at l = ${l}, chunk ${chunkSize}`,
      );
    }
  }
});
