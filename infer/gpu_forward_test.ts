/**
 * The prebuilt forward against the float64 logits Hugging Face computed, the
 * tfjs forward (logits, the prefill state, classifier outputs), greedy ids
 * through the decoder, its input checks, shared weights, and the per-length
 * cache that generation and `classifyRows` use. Runs on any WebGPU adapter
 * (a software one in CI); reported as ignored where none exists.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, tf } from "../kernels/backend.ts";
import { setPoisonOutputs } from "../kernels/webgpu/_dispatch.ts";
import { loadModel } from "../models/io.ts";
import { buildModel } from "../models/model.ts";
import spamClassifier from "../examples/spam_classifier.ts";
import imdbClassifier from "../examples/imdb_classifier.ts";
import {
  FIXTURES,
  PARITY_TOLERANCE,
  readExpected,
  relativeError,
} from "../tests/_util.ts";
import { GREEDY, greedyFixture } from "../tests/_infer_fixtures.ts";
import { GpuDecoder } from "./gpu_decoder.ts";
import {
  GpuForward,
  GpuForwardCache,
  gpuForwardUnsupported,
} from "./gpu_forward.ts";
import { classifyRows } from "./classify.ts";
import { generate } from "./generate.ts";
import { fitIds } from "../train/data/batches.ts";
import { argmax } from "./sampling.ts";

const ignore = !(await hasWebGPU());
const options = { ignore, sanitizeResources: false, sanitizeOps: false };

/**
 * Counts calls of a GpuForward method while `fn` runs (so a test can tell
 * the prebuilt path ran, not the tfjs fallback that gives the same numbers).
 */
async function callsOf(
  method: "prefill" | "classify",
  fn: () => Promise<unknown>,
): Promise<number> {
  const proto = GpuForward.prototype;
  const original = proto[method];
  let calls = 0;
  // deno-lint-ignore no-explicit-any
  (proto as any)[method] = function (this: GpuForward, ...a: unknown[]) {
    calls++;
    // deno-lint-ignore no-explicit-any
    return (original as any).apply(this, a);
  };
  try {
    await fn();
  } finally {
    proto[method] = original as never;
  }
  return calls;
}

for (const fixture of ["tiny", "long"] as const) {
  Deno.test({
    name:
      `GpuForward: ${fixture} logits vs HF logits_f64 ≤ ${PARITY_TOLERANCE}, and = model.forward`,
    ...options,
  }, async () => {
    await setBackend("webgpu");
    const expected = await readExpected(fixture);
    const model = await loadModel(`${FIXTURES}${fixture}`);
    const ids = expected.inputIds;
    const fwd = new GpuForward(model, {
      batch: ids.length,
      length: ids[0].length,
    });
    const logits = fwd.forward(ids);
    assert.deepEqual(logits.shape, expected.logitsShape);
    const ours = await logits.data() as Float32Array;
    const err = relativeError(ours, expected.logitsF64);
    assert.ok(
      err <= PARITY_TOLERANCE,
      `relative error ${err.toExponential(2)} > ${PARITY_TOLERANCE}`,
    );
    const viaTfjs = model.forward(ids);
    const same = relativeError(ours, await viaTfjs.data() as Float32Array);
    assert.ok(same <= 1e-6, `vs model.forward: ${same.toExponential(2)}`);
    tf.dispose([logits, viaTfjs]);
    fwd.dispose();
    model.dispose();
  });
}

Deno.test({
  name:
    "GpuForward: prefill state and last logits = model.prefill (batch 3, ragged sizes, outputs poisoned)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}long`);
  const v = model.resolved.vocab;
  // 37 tokens: not a multiple of any tile or chunk.
  const ids = [0, 1, 2].map((r) =>
    Array.from({ length: 37 }, (_, t) => (r * 131 + t * 17 + 5) % v)
  );
  setPoisonOutputs(true);
  try {
    const fwd = new GpuForward(model, { batch: 3, length: 37 });
    const ours = fwd.prefill(ids, { lastOnly: true });
    const want = model.prefill(ids, { lastOnly: true });
    assert.deepEqual(ours.logits.shape, want.logits.shape);
    const logitsErr = relativeError(
      await ours.logits.data() as Float32Array,
      await want.logits.data() as Float32Array,
    );
    assert.ok(logitsErr <= 1e-6, `last logits: ${logitsErr.toExponential(2)}`);
    assert.equal(ours.state.layers.length, want.state.layers.length);
    for (const [i, layer] of ours.state.layers.entries()) {
      for (const key of ["conv", "ssm"] as const) {
        const a = layer[key], b = want.state.layers[i][key];
        assert.deepEqual(a.shape, b.shape, `layer ${i} ${key} shape`);
        const e = relativeError(
          await a.data() as Float32Array,
          await b.data() as Float32Array,
        );
        assert.ok(e <= 1e-6, `layer ${i} ${key}: ${e.toExponential(2)}`);
      }
    }
    // A second call with other ids gives that call's answer, not the first's.
    const other = ids.map((row) => row.map((t) => (t + 1) % v));
    const again = fwd.forward(other);
    const wantAgain = model.forward(other);
    const e2 = relativeError(
      await again.data() as Float32Array,
      await wantAgain.data() as Float32Array,
    );
    assert.ok(e2 <= 1e-6, `second call: ${e2.toExponential(2)}`);
    tf.dispose([ours.logits, want.logits, again, wantAgain]);
    for (const s of [ours.state, want.state]) {
      s.layers.forEach((l) => tf.dispose([l.conv, l.ssm]));
    }
    fwd.dispose();
  } finally {
    setPoisonOutputs(false);
    model.dispose();
  }
});

Deno.test({
  name: "GpuForward: its prefill state decodes HF's greedy ids (tiny)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const { prompt, expected } = await greedyFixture("tiny");
  const model = await loadModel(`${FIXTURES}tiny`);
  const fwd = new GpuForward(model, { batch: 1, length: prompt.length });
  const { logits, state } = fwd.prefill([prompt], { lastOnly: true });
  const first = argmax(
    (await logits.data() as Float32Array).subarray(0, model.resolved.vocab),
  );
  const decoder = new GpuDecoder(model, { maxBatch: 8, maxSteps: 8 });
  decoder.admit({
    state,
    token: first,
    sampling: GREEDY,
    rngState: 0,
    seen: [],
  });
  const ours = [first];
  while (ours.length < expected.length) {
    const steps = Math.min(8, expected.length - ours.length);
    for (const row of await decoder.run(steps)) ours.push(row[0]);
  }
  assert.deepEqual(ours, expected);
  logits.dispose();
  state.layers.forEach((l) => tf.dispose([l.conv, l.ssm]));
  decoder.dispose();
  fwd.dispose();
  model.dispose();
});

Deno.test({
  name: "GpuForward: bad ids and options are rejected with the field named",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}tiny`);
  const v = model.resolved.vocab;
  assert.throws(
    () => new GpuForward(model, { batch: 0, length: 4 }),
    /batch: expected a positive integer, received 0/,
  );
  assert.throws(
    () => new GpuForward(model, { batch: 1, length: 2.5 }),
    /length: expected a positive integer, received 2.5/,
  );
  // Beyond the device's storage binding limit: refused, naming the buffer.
  const limit = (tf.backend() as unknown as { device: GPUDevice }).device
    .limits.maxStorageBufferBindingSize;
  const tooLong = Math.ceil(limit / 4 / model.resolved.paddedVocab) + 1;
  assert.throws(
    () => new GpuForward(model, { batch: 1, length: tooLong }),
    /logits needs a \d+-byte storage binding for batch·length = \d+, device limit \d+: use a smaller batch or length/,
  );
  const fwd = new GpuForward(model, { batch: 2, length: 3 });
  assert.throws(
    () => fwd.forward([[1, 2, 3]]),
    /ids: expected shape \[2, 3\].*received \[1, 3\]/,
  );
  assert.throws(
    () => fwd.forward([[1, 2, 3], [4, 5]]),
    /ids\[1\]: expected 3 token ids/,
  );
  assert.throws(
    () => fwd.forward([[1, 2, 3], [4, v, 6]]),
    new RegExp(
      `ids\\[1\\]\\[1\\]: expected a token id in \\[0, ${v}\\), received ${v}`,
    ),
  );
  assert.throws(
    () => fwd.forward([[1, 2, -1], [4, 5, 6]]),
    /ids\[0\]\[2\]: expected a token id/,
  );
  // A tensor made on the GPU is copied there, not read back; its ids are
  // clamped into the vocabulary (no host check without a readback).
  const t = tf.tidy(() =>
    tf.add(tf.tensor2d([[1, 2, 3], [4, 5, v + 7]], [2, 3], "int32"), 0)
  ) as tf.Tensor2D;
  const fromTensor = fwd.forward(t);
  const fromArray = fwd.forward([[1, 2, 3], [4, 5, v - 1]]);
  assert.deepEqual(await fromTensor.data(), await fromArray.data());
  assert.throws(
    () => fwd.forward(tf.zeros([2, 4], "int32") as tf.Tensor2D),
    /ids: expected shape \[2, 3\].*received \[2,4\]/,
  );
  tf.dispose([t, fromTensor, fromArray]);
  fwd.dispose();
  assert.throws(() => fwd.forward([[1, 2, 3], [4, 5, 6]]), /after dispose/);
  model.dispose();
});

Deno.test({
  name:
    "GpuForward.classify = model.forward for classifier models (mean pooling; flatten + GELU dense; LayerNorm and dropout between layers; raw scores)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const close = async (a: tf.Tensor, b: tf.Tensor, what: string) => {
    assert.deepEqual(a.shape, b.shape, what);
    const e = relativeError(
      await a.data() as Float32Array,
      await b.data() as Float32Array,
    );
    assert.ok(e <= 1e-6, `${what}: ${e.toExponential(2)}`);
    tf.dispose([a, b]);
  };
  const spam = buildModel(spamClassifier, { seed: 0 });
  assert.equal(gpuForwardUnsupported(spam), null);
  const rows = [0, 1].map((r) =>
    Array.from({ length: 40 }, (_, t) => (r * 53 + t * 7) % 256)
  );
  const fwd = new GpuForward(spam, { batch: 2, length: 40, weights: "share" });
  await close(fwd.classify(rows), spam.forward(rows), "spam probabilities");
  await close(
    fwd.classify(rows, { raw: true }),
    spam.forward(rows, { raw: true }),
    "spam raw scores",
  );
  assert.throws(
    () => fwd.forward(rows),
    /ends in a classifier \(use classify\)/,
  );
  assert.throws(() => fwd.prefill(rows), /ends in a classifier/);
  fwd.dispose();
  spam.dispose();

  const imdb = buildModel(imdbClassifier, { seed: 1 });
  const seqLen = imdb.resolved.seqLen!;
  const ids = [Array.from({ length: seqLen }, (_, t) => (t * 31 + 3) % 1000)];
  const f2 = new GpuForward(imdb, { batch: 1, length: seqLen });
  await close(f2.classify(ids), imdb.forward(ids), "imdb probabilities");
  f2.dispose();
  imdb.dispose();

  const lm = await loadModel(`${FIXTURES}tiny`);
  const f3 = new GpuForward(lm, { batch: 1, length: 2 });
  assert.throws(() => f3.classify([[1, 2]]), /needs a classifier model/);
  f3.dispose();
  lm.dispose();
});

Deno.test({
  name:
    'GpuForward weights: "share" gives the same logits, and a reassigned or disposed weight is refused by name',
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}tiny`);
  const ids = [[5, 9, 200, 3], [1, 2, 3, 4]];
  const copied = new GpuForward(model, { batch: 2, length: 4 });
  const shared = new GpuForward(model, {
    batch: 2,
    length: 4,
    weights: "share",
  });
  const a = copied.forward(ids), b = shared.forward(ids);
  assert.deepEqual(await a.data(), await b.data());
  tf.dispose([a, b]);
  assert.throws(
    () =>
      new GpuForward(model, { batch: 1, length: 1, weights: "view" as never }),
    /weights: expected "copy" or "share", received "view"/,
  );
  const name = "backbone.layers.0.mixer.out_proj.weight";
  const w = model.params.get(name)!;
  w.assign(tf.mul(w, 2));
  assert.throws(
    () => shared.forward(ids),
    new RegExp(`weight ${name.replaceAll(".", "\\.")} was reassigned`),
  );
  // The copy keeps the weights it was built with.
  const c = copied.forward(ids);
  const fresh = new GpuForward(model, {
    batch: 2,
    length: 4,
    weights: "share",
  });
  const d = fresh.forward(ids);
  const before = await c.data();
  assert.notDeepEqual(before, await d.data());
  // Weights read into the scan's packed parameters are watched too.
  const aLog = "backbone.layers.1.mixer.A_log";
  const again = new GpuForward(model, {
    batch: 2,
    length: 4,
    weights: "share",
  });
  assert.ok(again.current);
  const aLogVar = model.params.get(aLog)!;
  aLogVar.assign(tf.add(aLogVar, 0.5));
  assert.equal(again.current, false);
  assert.throws(
    () => again.forward(ids),
    new RegExp(`weight ${aLog.replaceAll(".", "\\.")} was reassigned`),
  );
  again.dispose();
  model.dispose();
  assert.throws(() => fresh.forward(ids), /was disposed after this forward/);
  const e = copied.forward(ids); // its own copies outlive the model
  assert.deepEqual(await e.data(), before);
  tf.dispose([c, d, e]);
  fresh.dispose();
  copied.dispose();
  shared.dispose();
});

Deno.test({
  name:
    "GpuForward = model.forward on an irregular architecture (LayerNorm, biases, odd state sizes, per-layer widths, dropout, a norm between layers, no final norm, untied head)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel({
    name: "irregular",
    nodes: [
      { kind: "embedding", vocab: 100, dim: 24 },
      {
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
      },
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
  const fwd = new GpuForward(model, { batch: 2, length: 19 });
  const ours = fwd.forward(ids);
  const want = model.forward(ids);
  assert.deepEqual(ours.shape, want.shape);
  const err = relativeError(
    await ours.data() as Float32Array,
    await want.data() as Float32Array,
  );
  assert.ok(err <= 1e-6, `vs model.forward: ${err.toExponential(2)}`);
  const { logits: last, state } = fwd.prefill(ids, { lastOnly: true });
  const ref = model.prefill(ids, { lastOnly: true });
  for (const [i, layer] of state.layers.entries()) {
    for (const key of ["conv", "ssm"] as const) {
      const e = relativeError(
        await layer[key].data() as Float32Array,
        await ref.state.layers[i][key].data() as Float32Array,
      );
      assert.ok(e <= 1e-6, `layer ${i} ${key}: ${e.toExponential(2)}`);
    }
  }
  tf.dispose([ours, want, last, ref.logits]);
  for (const s of [state, ref.state]) {
    s.layers.forEach((l) => tf.dispose([l.conv, l.ssm]));
  }
  fwd.dispose();
  model.dispose();
});

Deno.test({
  name:
    "classifyRows on webgpu (prebuilt backbone) = model.forward per row, and follows a reassigned weight",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel(spamClassifier, { seed: 2 });
  const rows = [[5, 6, 7], Array.from({ length: 700 }, (_, t) => t % 256)];
  const want = async () => {
    const out: number[][] = [];
    for (const row of rows) {
      const ids = fitIds(row, 0, { seqLen: model.resolved.seqLen! });
      const p = model.forward([ids]);
      out.push(Array.from(await p.data()));
      p.dispose();
    }
    return out;
  };
  const near = (a: number[][], b: number[][], what: string) =>
    a.forEach((row, i) =>
      row.forEach((v, j) =>
        assert.ok(
          Math.abs(v - b[i][j]) <= 1e-6 * Math.max(1, Math.abs(b[i][j])),
          `${what} [${i}][${j}]: ${v} vs ${b[i][j]}`,
        )
      )
    );
  let got: number[][] = [];
  const calls = await callsOf("classify", async () => {
    got = await classifyRows(model, rows);
  });
  assert.equal(calls, rows.length, "prebuilt classify calls");
  near(got, await want(), "first call");
  const w = model.params.get("classifier.out.weight")!;
  w.assign(tf.mul(w, -3));
  const b = model.params.get("backbone.layers.0.mixer.in_proj.weight")!;
  b.assign(tf.mul(b, 0.5));
  near(await classifyRows(model, rows), await want(), "after reassigning");
  model.dispose();
});

Deno.test({
  name:
    "generate on webgpu prefills with the prebuilt forward (and without it when asked): HF's greedy ids both ways (long)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const { prompt, expected } = await greedyFixture("long");
  const model = await loadModel(`${FIXTURES}long`);
  for (const gpuPrefill of [true, false]) {
    let ids: number[] = [];
    const calls = await callsOf("prefill", async () => {
      const [r] = await generate(model, [prompt], {
        maxNewTokens: expected.length,
        gpuPrefill,
      });
      ids = r.outputIds;
    });
    assert.equal(calls, gpuPrefill ? 1 : 0, `prefill calls (${gpuPrefill})`);
    assert.deepEqual(ids, expected, `gpuPrefill ${gpuPrefill}`);
  }
  model.dispose();
});

Deno.test({
  name:
    "GpuForwardCache: keeps the last lengths, rebuilds after a weight changes, and gives null (evicting nothing) for a length too long to bind",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = await loadModel(`${FIXTURES}tiny`);
  const cache = new GpuForwardCache(model, 2);
  const ids = (l: number) => [Array.from({ length: l }, (_, t) => t % 7)];
  const seen: GpuForward[] = [];
  for (const l of [3, 4, 3, 5]) {
    const out = cache.run(l, (fwd) => {
      seen.push(fwd);
      return fwd.forward(ids(l));
    });
    const want = model.forward(ids(l));
    assert.deepEqual(await out!.data(), await want.data(), `length ${l}`);
    tf.dispose([out!, want]);
  }
  assert.equal(seen[0], seen[2], "length 3 reused");
  assert.deepEqual(cache.lengths, [3, 5], "length 4 evicted (least recent)");
  const v = model.params.get("backbone.layers.0.mixer.D")!;
  v.assign(tf.mul(v, 2));
  const after = cache.run(5, (fwd) => {
    seen.push(fwd);
    return fwd.forward(ids(5));
  })!;
  assert.notEqual(seen[4], seen[3], "rebuilt after D changed");
  const want = model.forward(ids(5));
  assert.deepEqual(await after.data(), await want.data());
  tf.dispose([after, want]);
  const limit = (tf.backend() as unknown as { device: GPUDevice }).device
    .limits.maxStorageBufferBindingSize;
  const tooLong = Math.ceil(limit / 4 / model.resolved.paddedVocab) + 1;
  assert.equal(cache.run(tooLong, () => "ran"), null);
  assert.deepEqual(cache.lengths, [3, 5], "nothing evicted for it");
  cache.dispose();
  model.dispose();
});

Deno.test({
  name:
    "GpuForward reads ids given as a fresh CPU tensor after tfjs uploads it (into a recycled buffer)",
  ...options,
}, async () => {
  await setBackend("webgpu");
  const model = buildModel({
    name: "fresh-ids",
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
  const fwd = new GpuForward(model, { batch: 2, length: 6 });
  const want = await fwd.forward(rows(2)).data();
  fwd.forward(rows(1)).dispose(); // the ids buffer now holds other ids
  const junk = tf.fill([2, 6], 39, "int32"); // same size, made on the GPU
  await junk.data();
  junk.dispose();
  await tf.add(tf.scalar(1), tf.scalar(1)).data(); // its buffer is free again
  const fresh = tf.tensor2d(rows(2), [2, 6], "int32"); // values on the CPU
  const got = await fwd.forward(fresh).data();
  assert.equal(relativeError(got, want), 0);
  fwd.dispose();
  model.dispose();
});
