/**
 * The WebGPU executor against the hand-built prebuilt forward (GpuForward)
 * and the tfjs executor: logits and prefill states on the HF fixture and on
 * an irregular architecture; buffers shared by liveness; a buffer over the
 * device limit refused at build by name. Runs on any WebGPU adapter (a
 * software one in CI); reported as ignored where none exists.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../../kernels/backend.ts";
import { GpuForward } from "../../infer/gpu_forward.ts";
import { webgpuBackend } from "../../kernels/webgpu/_dispatch.ts";
import {
  FIXTURES,
  PARITY_TOLERANCE,
  readExpected,
  relativeError,
} from "../../tests/_util.ts";
import { loadModel } from "../io.ts";
import { buildModel } from "../model.ts";
import type { MambaModel } from "../types.ts";
import { lowerArchitecture } from "./lower.ts";
import { WebGpuExecutor } from "./webgpu_executor.ts";

const ignore = !(await hasWebGPU());
const options = { ignore, sanitizeResources: false, sanitizeOps: false };

/** Runs `f`, counting the compute dispatches it records. */
function countDispatches<T>(f: () => T): [T, number] {
  const proto = GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let count = 0;
  proto.dispatchWorkgroups = function (
    this: GPUComputePassEncoder,
    ...args: Parameters<typeof original>
  ) {
    count++;
    return original.apply(this, args);
  };
  try {
    return [f(), count];
  } finally {
    proto.dispatchWorkgroups = original;
  }
}

const data = async (t: tf.Tensor) => await t.data() as Float32Array;

/** Program (forward and prefill, lastOnly or not) vs GpuForward, and the program's forward vs model.forward. */
async function compare(model: MambaModel, ids: number[][], tol: number) {
  const shape = { batch: ids.length, length: ids[0].length };
  const fwd = new GpuForward(model, { ...shape, weights: "share" });
  const forward = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "forward"),
    model.params,
    shape,
  );
  const [ours, mine] = countDispatches(() => forward.run(ids).output);
  const [gpu, theirs] = countDispatches(() => fwd.forward(ids));
  assert.ok(mine <= theirs, `${mine} dispatches, GpuForward ${theirs}`);
  const tfjs = model.forward(ids);
  assert.deepEqual(ours.shape, gpu.shape);
  const vsGpu = relativeError(await data(ours), await data(gpu));
  assert.ok(vsGpu <= tol, `forward vs GpuForward: ${vsGpu.toExponential(2)}`);
  const vsTfjs = relativeError(await data(ours), await data(tfjs));
  assert.ok(
    vsTfjs <= tol,
    `forward vs model.forward: ${vsTfjs.toExponential(2)}`,
  );
  for (const lastOnly of [false, true]) {
    const prefill = new WebGpuExecutor(
      lowerArchitecture(model.resolved, "prefill", { lastOnly }),
      model.params,
      shape,
    );
    const mine = prefill.run(ids);
    const theirs = fwd.prefill(ids, { lastOnly });
    const e = relativeError(await data(mine.output), await data(theirs.logits));
    assert.ok(
      e <= tol,
      `prefill (lastOnly ${lastOnly}) logits: ${e.toExponential(2)}`,
    );
    assert.equal(mine.state.length, model.resolved.layers.length);
    for (const [i, layer] of mine.state.entries()) {
      for (const key of ["conv", "ssm"] as const) {
        const ref = theirs.state.layers[i][key];
        assert.deepEqual(layer[key].shape, ref.shape);
        const es = relativeError(await data(layer[key]), await data(ref));
        assert.ok(es <= tol, `layer ${i} ${key}: ${es.toExponential(2)}`);
      }
    }
    prefill.dispose();
  }
  forward.dispose();
  fwd.dispose();
}

/** A residual block off the defaults: LayerNorm, dtRank 5, biases but no conv bias. */
const LAYER_NORM_BIASED_MAMBA = {
  kind: "residual",
  norm: { kind: "layer_norm" },
  mixer: {
    kind: "mamba",
    dState: 3,
    dConv: 3,
    dtRank: 5,
    bias: true,
    convBias: false,
  },
};

Deno.test({
  name:
    `WebGpuExecutor = GpuForward = model.forward on the HF fixture (tiny) ≤ 1e-6, and HF logits_f64 ≤ ${PARITY_TOLERANCE}`,
  ...options,
}, async () => {
  await setBackend("webgpu");
  const expected = await readExpected("tiny");
  const model = await loadModel(`${FIXTURES}tiny`);
  await compare(model, expected.inputIds, 1e-6);
  const exec = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "forward"),
    model.params,
    {
      batch: expected.inputIds.length,
      length: expected.inputIds[0].length,
    },
  );
  const first = exec.run(expected.inputIds).output;
  // Each call writes a tensor of its own: a later call leaves it intact.
  const other = exec.run(expected.inputIds.map((row) =>
    row.map((t) => (t + 1) % 16)
  )).output;
  const err = relativeError(await data(first), expected.logitsF64);
  assert.ok(err <= PARITY_TOLERANCE, `vs HF: ${err.toExponential(2)}`);
  assert.ok(relativeError(await data(other), expected.logitsF64) > 1e-3);
  exec.dispose();
  model.dispose();
});

Deno.test({
  name:
    "WebGpuExecutor = GpuForward on an irregular architecture (LayerNorm, biases, odd sizes, per-layer widths, a norm between layers, untied head) ≤ 1e-6",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel({
    name: "irregular",
    nodes: [
      { kind: "embedding", vocab: 100, dim: 24 },
      LAYER_NORM_BIASED_MAMBA,
      { kind: "dropout", rate: 0.1 },
      {
        kind: "residual",
        norm: { kind: "rms_norm", eps: 1e-6 },
        mixer: { kind: "mamba", dState: 5, dConv: 2, expand: 3 },
      },
      { kind: "layer_norm" },
      {
        kind: "residual",
        norm: { kind: "rms_norm" },
        mixer: { kind: "mamba", dState: 16 },
      },
      { kind: "lm_head", tied: false },
    ],
  }, { seed: 3 });
  const ids = [0, 1].map((r) =>
    Array.from({ length: 19 }, (_, t) => (r * 37 + t * 11) % 100)
  );
  await compare(model, ids, 1e-6);
  model.dispose();
});

Deno.test({
  name:
    "WebGpuExecutor: buffers shared by liveness, weights checked, limits and modes refused by name",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}tiny`);
  const program = lowerArchitecture(model.resolved, "forward");
  const exec = new WebGpuExecutor(program, model.params, {
    batch: 1,
    length: 8,
  });
  // Liveness: a deeper stack binds no more activation buffers.
  const deep = (layers: number) => {
    const m = buildModel({
      name: "deep",
      nodes: [
        { kind: "embedding", vocab: 50, dim: 16 },
        { kind: "repeat", times: layers, body: [{ kind: "residual" }] },
        { kind: "rms_norm" },
        { kind: "lm_head", tied: true },
      ],
    });
    const p = lowerArchitecture(m.resolved, "forward");
    const e = new WebGpuExecutor(p, m.params, { batch: 2, length: 5 });
    const counts = [
      e.activationBuffers,
      p.ops.flatMap((o) => o.outputs).length,
    ];
    e.dispose();
    m.dispose();
    return counts;
  };
  const [shallow, shallowBuffers] = deep(2);
  const [deeper, deeperBuffers] = deep(8);
  assert.ok(deeperBuffers > 3 * shallowBuffers);
  assert.equal(
    deeper,
    shallow,
    `${shallow} activation buffers at 2 layers, ${deeper} at 8`,
  );
  assert.throws(
    () => exec.run([[1, 2]]),
    /WebGpuExecutor: ids: expected shape \[1, 8\]/,
  );
  exec.dispose();
  assert.throws(
    () => exec.run([[1, 2, 3, 4, 5, 6, 7, 8]]),
    /used after dispose/,
  );
  const limit = webgpuBackend().device.limits.maxStorageBufferBindingSize;
  const length =
    Math.ceil(limit / 4 / model.resolved.layers[0].mixer.dInner / 2) + 1;
  assert.throws(
    () => new WebGpuExecutor(program, model.params, { batch: 1, length }),
    /WebGpuExecutor: .* needs a \d+-byte storage binding at batch 1, length \d+; the device's limit is \d+/,
  );
  assert.throws(
    () =>
      new WebGpuExecutor(
        lowerArchitecture(model.resolved, "train"),
        model.params,
        { batch: 1, length: 1 },
      ),
    /expected a forward, prefill or step program, received train/,
  );
  // An op without a WebGPU binding (here a program whose first mixer op is
  // renamed to one no kind binds) is refused at build, by name.
  const at = program.ops.findIndex((o) => o.outputs[0].name.includes("mixer"));
  const unbound = {
    ...program,
    ops: program.ops.map((o, i) => i === at ? { ...o, op: "no_such_op" } : o),
  };
  assert.throws(
    () => new WebGpuExecutor(unbound, model.params, { batch: 1, length: 4 }),
    /WebGpuExecutor: no WebGPU binding of op no_such_op \(layers\.0\.mixer\./,
  );
  const stepProgram = lowerArchitecture(model.resolved, "step");
  assert.throws(
    () =>
      new WebGpuExecutor(stepProgram, model.params, { batch: 2, length: 3 }),
    /length: expected 1 for a step program, received 3/,
  );
  const stepper = new WebGpuExecutor(stepProgram, model.params, {
    batch: 2,
    length: 1,
  });
  const zero = model.initialState(2);
  assert.throws(
    () => stepper.run([1, 2], zero.layers.slice(1)),
    /state: expected 2 layers, received 1/,
  );
  assert.throws(
    () => stepper.run([1, 2], model.initialState(3).layers),
    /state\.layers\[0\]\.conv: expected shape \[2,3,64\], received \[3,3,64\]/,
  );
  stepper.dispose();
  const shared = new WebGpuExecutor(program, model.params, {
    batch: 1,
    length: 4,
  });
  const name = "backbone.layers.0.mixer.D";
  const v = model.params.get(name)!;
  v.assign(tf.onesLike(v));
  assert.throws(
    () => shared.run([[1, 2, 3, 4]]),
    new RegExp(`weight ${name.replaceAll(".", "\\.")} was reassigned`),
  );
  shared.dispose();
  model.dispose();
});

Deno.test({
  name:
    "WebGpuExecutor step program: prefill then 5 steps = model.prefill + model.step (logits and state) ≤ 1e-5",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel({
    name: "stepper",
    nodes: [
      { kind: "embedding", vocab: 40, dim: 16 },
      LAYER_NORM_BIASED_MAMBA,
      { kind: "residual", mixer: { kind: "mamba", dState: 8, expand: 3 } },
      { kind: "rms_norm" },
      { kind: "lm_head", tied: false },
    ],
  }, { seed: 2 });
  const prompt = [[1, 5, 9, 2, 7], [3, 3, 8, 0, 1]];
  const prefill = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "prefill", { lastOnly: true }),
    model.params,
    { batch: 2, length: 5 },
  );
  const step = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "step"),
    model.params,
    {
      batch: 2,
      length: 1,
    },
  );
  let ours = prefill.run(prompt).state;
  let ref = model.prefill(prompt, { lastOnly: true }).state.layers;
  for (let t = 0; t < 5; t++) {
    const ids = [(7 * t + 1) % 40, (3 * t + 2) % 40];
    const mine = step.run(ids, ours);
    const want = model.step(ids, { layers: ref });
    assert.deepEqual(mine.output.shape, [2, 40]);
    const e = relativeError(await data(mine.output), await data(want.logits));
    assert.ok(e <= 1e-5, `step ${t} logits: ${e.toExponential(2)}`);
    for (const [i, layer] of mine.state.entries()) {
      for (const key of ["conv", "ssm"] as const) {
        const es = relativeError(
          await data(layer[key]),
          await data(want.state.layers[i][key]),
        );
        assert.ok(
          es <= 1e-5,
          `step ${t} layer ${i} ${key}: ${es.toExponential(2)}`,
        );
      }
    }
    ours = mine.state;
    ref = want.state.layers;
  }
  prefill.dispose();
  step.dispose();
  model.dispose();
});

Deno.test({
  name:
    "WebGpuExecutor reads ids and state given as fresh CPU tensors after tfjs uploads them (into recycled buffers)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel({
    name: "fresh",
    nodes: [
      { kind: "embedding", vocab: 40, dim: 16 },
      { kind: "residual" },
      { kind: "rms_norm" },
      { kind: "lm_head", tied: true },
    ],
  }, { seed: 4 });
  const rows = (k: number) =>
    [0, 1].map((r) =>
      Array.from({ length: 6 }, (_, t) => (k * 13 + r * 7 + t * 3) % 40)
    );
  /** A CPU tensor whose upload lands in a buffer tfjs recycles. */
  const freshTensor = async (
    values: number[][] | number[],
    shape: number[],
    dtype: "int32" | "float32",
  ) => {
    const junk = tf.fill(shape, 39, dtype); // same size, computed on the GPU
    await junk.data();
    junk.dispose();
    await tf.add(tf.scalar(1), tf.scalar(1)).data(); // a submit: the buffer is free again
    return tf.tensor(values.flat(), shape, dtype);
  };
  const forward = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "forward"),
    model.params,
    { batch: 2, length: 6 },
  );
  const want = await data(forward.run(rows(2)).output);
  forward.run(rows(1)).output.dispose(); // the ids buffer now holds other ids
  const got = await data(
    forward.run(
      await freshTensor(rows(2), [2, 6], "int32") as tf.Tensor2D,
    ).output,
  );
  assert.equal(relativeError(got, want), 0, "ids from a fresh tensor");
  forward.dispose();

  const step = new WebGpuExecutor(
    lowerArchitecture(model.resolved, "step"),
    model.params,
    { batch: 2, length: 1 },
  );
  const dIn = model.resolved.layers[0].mixer.dInner;
  const conv = Array.from({ length: 2 * 3 * dIn }, (_, i) => Math.sin(i));
  const ssm = Array.from({ length: 2 * dIn * 16 }, (_, i) => Math.cos(i));
  const onGpu = [{
    conv: tf.tensor(conv, [2, 3, dIn]),
    ssm: tf.tensor(ssm, [2, dIn, 16]),
  }];
  await onGpu[0].conv.data(); // uploaded now
  await tf.add(onGpu[0].ssm, 0).data();
  const ref = await data(step.run([3, 4], onGpu).output);
  step.run([3, 4], model.initialState(2).layers).output.dispose(); // other state in the inputs
  const fresh = [{
    conv: await freshTensor(conv, [2, 3, dIn], "float32"),
    ssm: await freshTensor(ssm, [2, dIn, 16], "float32"),
  }];
  const mine = await data(step.run([3, 4], fresh).output);
  assert.equal(relativeError(mine, ref), 0, "state from fresh tensors");
  step.dispose();
  model.dispose();
});

Deno.test({
  name:
    "WebGpuExecutor classifier heads (flatten/last/mean pooling, every activation, raw scores) = model.forward and GpuForward.classify ≤ 1e-5",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const heads = [
    {
      pooling: "flatten",
      classes: 3,
      activation: "softmax",
      hidden: { units: 5, activation: "gelu" },
    },
    {
      pooling: "last",
      classes: 2,
      activation: "softmax",
      hidden: { units: 7, activation: "relu" },
    },
    {
      pooling: "mean",
      classes: 1,
      activation: "sigmoid",
      hidden: { units: 4, activation: "silu" },
    },
    {
      pooling: "mean",
      classes: 2,
      activation: "none",
      hidden: { units: 3, activation: "tanh" },
    },
    { pooling: "last", classes: 4, activation: "sigmoid" },
  ];
  for (const [k, head] of heads.entries()) {
    const model = buildModel({
      name: `cls${k}`,
      seqLen: 6,
      nodes: [
        { kind: "embedding", vocab: 30, dim: 12 },
        { kind: "residual", mixer: { kind: "mamba", dState: 4 } },
        { kind: "layer_norm" },
        {
          kind: "residual",
          norm: { kind: "layer_norm" },
          mixer: { kind: "mamba", dState: 6 },
        },
        { kind: "rms_norm" },
        { kind: "classifier", ...head },
      ],
    }, { seed: k });
    const ids = [0, 1, 2].map((r) =>
      Array.from({ length: 6 }, (_, t) => (r * 11 + t * 5 + k) % 30)
    );
    const exec = new WebGpuExecutor(
      lowerArchitecture(model.resolved, "forward"),
      model.params,
      {
        batch: 3,
        length: 6,
      },
    );
    const fwd = new GpuForward(model, {
      batch: 3,
      length: 6,
      weights: "share",
    });
    const mine = exec.run(ids);
    for (const raw of [false, true]) {
      const ours = await data(raw ? mine.raw! : mine.output);
      for (
        const [name, want] of [["model.forward", model.forward(ids, { raw })], [
          "GpuForward",
          fwd.classify(ids, { raw }),
        ]] as const
      ) {
        assert.deepEqual((raw ? mine.raw! : mine.output).shape, want.shape);
        const e = relativeError(ours, await data(want));
        assert.ok(
          e <= 1e-5,
          `head ${k} (${head.pooling}, ${head.activation}) raw ${raw} vs ${name}: ${
            e.toExponential(2)
          }`,
        );
      }
    }
    exec.dispose();
    fwd.dispose();
    model.dispose();
  }
});
