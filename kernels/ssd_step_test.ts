/**
 * ssdStep: token by token it equals the float64 oracle (≤ 1e-5) and the
 * chunked parallel form (a prefill by ssdChunked then steps continues the
 * same sequence); the time-step limit is applied only when given (the
 * official and transformers' decode leave it out); shapes are checked.
 * On cpu, wasm and — where an adapter exists — webgpu.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "./backend.ts";
import type { BackendName } from "./backend.ts";
import { ssdChunked } from "./ssd_chunked.ts";
import { ssdStep } from "./ssd_step.ts";
import { referenceSsd } from "./ssd_reference.ts";
import type { SsdInputs } from "./ssd_types.ts";
import {
  makeSsdCase,
  type SsdCaseSpec,
  toSsdTensors,
} from "./_ssd_test_data.ts";
import { relError } from "./_scan_test_data.ts";

const gpu = await hasWebGPU();
const TOL = 1e-5;

/** The step's inputs at time t of a sequence's tensors. */
function at(inputs: SsdInputs, t: number) {
  const [b, , h, p] = inputs.x.shape;
  const [g, n] = inputs.B.shape.slice(2);
  return {
    x: tf.reshape(tf.slice(inputs.x, [0, t], [b, 1]), [b, h, p]) as tf.Tensor3D,
    dt: tf.reshape(tf.slice(inputs.dt, [0, t], [b, 1]), [b, h]) as tf.Tensor2D,
    B: tf.reshape(tf.slice(inputs.B, [0, t], [b, 1]), [b, g, n]) as tf.Tensor3D,
    C: tf.reshape(tf.slice(inputs.C, [0, t], [b, 1]), [b, g, n]) as tf.Tensor3D,
  };
}

/**
 * Runs steps from..to−1 from `state`, returning y (b, to−from, h, p) as a
 * flat array and the last state.
 */
async function runSteps(
  inputs: SsdInputs,
  state: tf.Tensor4D,
  from: number,
  to: number,
): Promise<{ y: Float32Array; state: tf.Tensor4D }> {
  const [b, , h, p] = inputs.x.shape;
  const ys: tf.Tensor3D[] = [];
  for (let t = from; t < to; t++) {
    const one = at(inputs, t);
    const out = ssdStep({ ...inputs, ...one, state });
    tf.dispose(Object.values(one));
    if (t > from) state.dispose();
    state = out.state;
    ys.push(out.y);
  }
  const y = tf.stack(ys, 1); // (b, to−from, h, p)
  const flat = (await y.data()) as Float32Array;
  assert.deepEqual(y.shape, [b, to - from, h, p]);
  tf.dispose([y, ...ys]);
  return { y: flat, state };
}

async function checkSteps(spec: SsdCaseSpec, split: number): Promise<void> {
  const q = makeSsdCase(spec, spec.l);
  const want = referenceSsd(q);
  const inputs = toSsdTensors(q);
  const { b, l, h, p, n } = q;
  const label = `${JSON.stringify(spec)} on ${tf.getBackend()}`;
  // every step from the initial state, against the oracle
  const start = inputs.initialState ?? tf.zeros([b, h, p, n]) as tf.Tensor4D;
  const all = await runSteps(inputs, start, 0, l);
  const errY = relError(all.y, want.y);
  const errS = relError(await all.state.data(), want.state);
  assert.ok(errY <= TOL, `steps: y relative error ${errY} at ${label}`);
  assert.ok(errS <= TOL, `steps: state relative error ${errS} at ${label}`);
  // the parallel form on the whole sequence, against the steps
  const par = ssdChunked(inputs, { chunkSize: 16 });
  const parY = await par.y.data();
  const errP = relError(parY, all.y);
  assert.ok(errP <= TOL, `parallel vs steps: y ${errP} at ${label}`);
  // prefill `split` tokens in parallel, then step the rest
  const pre = ssdChunked(
    {
      ...inputs,
      x: tf.slice(inputs.x, [0, 0], [b, split]),
      dt: tf.slice(inputs.dt, [0, 0], [b, split]),
      B: tf.slice(inputs.B, [0, 0], [b, split]),
      C: tf.slice(inputs.C, [0, 0], [b, split]),
    },
    { chunkSize: 16 },
  );
  const rest = await runSteps(inputs, pre.state, split, l);
  // (b, l − split, h, p): the parallel output's steps from `split` on
  const row = h * p;
  const tail = Float32Array.from(
    { length: b * (l - split) * row },
    (_, j) => {
      const i = Math.floor(j / ((l - split) * row));
      return parY[i * l * row + split * row + (j % ((l - split) * row))];
    },
  );
  const err = relError(rest.y, tail);
  assert.ok(err <= TOL, `prefill + steps vs parallel: y ${err} at ${label}`);
  const errE = relError(await rest.state.data(), want.state);
  assert.ok(errE <= TOL, `prefill + steps: state ${errE} at ${label}`);
  tf.dispose([all.state, par.y, par.state, pre.y, pre.state, rest.state]);
  if (!inputs.initialState) start.dispose();
  tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
}

async function stepSweep(): Promise<void> {
  await checkSteps({ b: 1, l: 40, h: 4, p: 3, g: 2, n: 4, full: true }, 33);
  await checkSteps({ b: 2, l: 20, h: 3, p: 2, g: 3, n: 2 }, 16);
  await checkSteps({ b: 1, l: 2, h: 2, p: 2, g: 1, n: 3, full: true }, 1);
}

for (const backend of ["cpu", "wasm"] as BackendName[]) {
  Deno.test(`ssdStep token by token equals the oracle and the parallel form (${backend})`, async () => {
    await setBackend(backend);
    await stepSweep();
  });
}

Deno.test({
  name:
    "ssdStep token by token equals the oracle and the parallel form (webgpu)",
  ignore: !gpu,
  fn: async () => {
    await setBackend("webgpu");
    await checkSteps({ b: 1, l: 20, h: 4, p: 3, g: 2, n: 4, full: true }, 17);
  },
});

Deno.test("ssdStep applies the time-step limit only when given", async () => {
  await setBackend("cpu");
  const spec = { b: 1, l: 1, h: 2, p: 2, g: 1, n: 2, full: true };
  const limited = makeSsdCase({ ...spec, dtLimit: [0.01, 0.05] }, 3);
  const free = { ...limited, dtLimit: undefined };
  const inputs = toSsdTensors(limited);
  const one = at(inputs, 0);
  const state = inputs.initialState!;
  const withLimit = await ssdStep({ ...inputs, ...one, state }).y.data();
  const without = await ssdStep({
    ...inputs,
    ...one,
    state,
    dtLimit: undefined,
  })
    .y.data();
  const wantWith = referenceSsd(limited).y;
  const wantWithout = referenceSsd(free).y;
  assert.ok(relError(withLimit, wantWith) <= TOL);
  assert.ok(relError(without, wantWithout) <= TOL);
  // the case is one where the limit matters
  assert.ok(relError(wantWithout, wantWith) > 1e-2);
});

Deno.test("ssdStep rejects bad shapes, naming the field", async () => {
  await setBackend("cpu");
  const [b, h, p, g, n] = [1, 4, 2, 2, 3];
  const base = {
    x: tf.zeros([b, h, p]) as tf.Tensor3D,
    dt: tf.zeros([b, h]) as tf.Tensor2D,
    A: tf.zeros([h]) as tf.Tensor1D,
    B: tf.zeros([b, g, n]) as tf.Tensor3D,
    C: tf.zeros([b, g, n]) as tf.Tensor3D,
    state: tf.zeros([b, h, p, n]) as tf.Tensor4D,
  };
  assert.throws(
    () => ssdStep({ ...base, state: tf.zeros([b, h, n, p]) as tf.Tensor4D }),
    /ssdStep: state: expected shape \(b, h, p, n\) = \(1, 4, 2, 3\), received \(1, 4, 3, 2\)/,
  );
  assert.throws(
    () =>
      ssdStep({ ...base, dt: tf.zeros([b, h, 1]) as unknown as tf.Tensor2D }),
    /ssdStep: dt: expected shape \(b, h\) = \(1, 4\), received \(1, 4, 1\)/,
  );
  assert.throws(
    () =>
      ssdStep({
        ...base,
        B: tf.zeros([b, 3, n]) as tf.Tensor3D,
        C: tf.zeros([b, 3, n]) as tf.Tensor3D,
      }),
    /ssdStep: B: expected a number of groups dividing the 4 heads, received 3/,
  );
  assert.throws(
    () => ssdStep({ ...base, D: tf.zeros([h + 1]) as tf.Tensor1D }),
    /ssdStep: D: expected shape \(h\) = \(4\), received \(5\)/,
  );
});
