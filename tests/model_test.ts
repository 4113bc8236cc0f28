/**
 * The model: initialisation as the official implementation, validation
 * before any tensor, save/load round trips, heads, token-id errors, lengths.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import {
  architecture,
  classifier,
  dropout,
  embedding,
  layerNorm,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { loadModel, saveModel } from "../models/io.ts";
import { readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import { FIXTURES, relativeError } from "./_util.ts";

await setBackend("cpu");
const opts = { sanitizeResources: false, sanitizeOps: false };

const smallLm = architecture({
  name: "small-lm",
  nodes: [
    embedding({ vocab: 50, dim: 16, padVocabMultiple: 8 }),
    repeat(2, [
      residual({ mixer: mamba({ dState: 4, dtMin: 0.01, dtMax: 0.05 }) }),
      dropout(0.1),
    ]),
    rmsNorm(),
    lmHead({ tied: false }),
  ],
});

Deno.test("init follows the official implementation", opts, async () => {
  const model = buildModel(smallLm, { seed: 3 });
  const get = async (name: string) => await model.params.get(name)!.data();
  const aLog = await get("backbone.layers.1.mixer.A_log"); // (32, 4)
  for (let i = 0; i < aLog.length; i++) {
    assert.ok(Math.abs(aLog[i] - Math.log((i % 4) + 1)) < 1e-6);
  }
  assert.ok((await get("backbone.layers.0.mixer.D")).every((v) => v === 1));
  const bias = await get("backbone.layers.0.mixer.dt_proj.bias");
  for (const v of bias) {
    const dt = Math.log1p(Math.exp(v)); // softplus gives back dt ∈ [dtMin, dtMax]
    assert.ok(dt >= 0.01 * (1 - 1e-5) && dt <= 0.05 * (1 + 1e-5), `dt ${dt}`);
  }
  const dtW = await get("backbone.layers.0.mixer.dt_proj.weight"); // rank 1 → bound 1
  assert.ok(dtW.every((v) => Math.abs(v) <= 1));
  const out = await get("backbone.layers.0.mixer.out_proj.weight"); // U(±1/√32/√2)
  const bound = 1 / Math.sqrt(32) / Math.sqrt(2);
  assert.ok(out.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...out.map(Math.abs)) > 0.8 * bound);
  const emb = await get("backbone.embeddings.weight"); // N(0, 0.02), padded to 56 rows
  assert.equal(emb.length, 56 * 16);
  const std = Math.sqrt(
    Array.from(emb).reduce((s, v) => s + v * v, 0) / emb.length,
  );
  assert.ok(Math.abs(std - 0.02) < 0.003, `embedding std ${std}`);
  const same = buildModel(smallLm, { seed: 3 });
  assert.deepEqual(
    await same.params.get("backbone.embeddings.weight")!.data(),
    emb,
  );
  model.dispose();
  same.dispose();
});

Deno.test(
  "an invalid architecture fails before any tensor is created",
  opts,
  () => {
    const before = tf.memory().numTensors;
    assert.throws(
      () =>
        buildModel({
          ...smallLm,
          nodes: [{ kind: "embedding", vocab: -1, dim: 8 }],
        }),
      /nodes\[0\]\.vocab/,
    );
    assert.equal(tf.memory().numTensors, before);
  },
);

Deno.test(
  "LM forward shapes, dropout only in training, token id errors",
  opts,
  () => {
    const model = buildModel(smallLm, { seed: 1 });
    const ids = [[1, 2, 3, 4], [5, 6, 7, 8]];
    const a = model.forward(ids);
    assert.deepEqual(a.shape, [2, 4, 56]);
    const b = model.forward(ids);
    assert.equal(relativeError(a.dataSync(), b.dataSync()), 0);
    const c = model.forward(ids, { training: true, seed: 1 });
    assert.ok(
      relativeError(c.dataSync(), a.dataSync()) > 1e-3,
      "dropout changes training output",
    );
    assert.throws(
      () => model.forward([[1, 2, 50]]),
      /ids\[0\]\[2\]: expected a token id in \[0, 50\), received 50/,
    );
    assert.throws(
      () => model.forward([[1, 2], [3]]),
      /ids\[1\]: expected 2 token ids/,
    );
    assert.throws(() => model.forward([[1.5]]), /received 1.5/);
    assert.throws(
      () => model.forward(tf.tensor2d([[1, -1]], [1, 2], "int32")),
      /\[0\]\[1\].*received -1/,
    );
    model.dispose();
  },
);

Deno.test(
  "classifier heads: flatten needs the fixed length, probabilities in (0, 1)",
  opts,
  () => {
    const arch = architecture({
      name: "clf",
      seqLen: 6,
      nodes: [
        embedding({ vocab: 30, dim: 8 }),
        repeat(2, [
          residual({ norm: layerNorm(1e-5), mixer: mamba({ dState: 4 }) }),
          dropout(0.2),
        ]),
        classifier({
          pooling: "flatten",
          hidden: { units: 12, activation: "gelu" },
          classes: 1,
          activation: "sigmoid",
        }),
      ],
    });
    const model = buildModel(arch, { seed: 2 });
    const p = model.forward([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]]);
    assert.deepEqual(p.shape, [2, 1]);
    assert.ok(p.dataSync().every((v) => v > 0 && v < 1));
    const raw =
      model.forward([[1, 2, 3, 4, 5, 6]], { raw: true }).dataSync()[0];
    assert.ok(Math.abs(1 / (1 + Math.exp(-raw)) - p.dataSync()[0]) < 1e-6);
    assert.throws(() => model.forward([[1, 2, 3]]), /expected length 6/);
    assert.throws(() => model.prefill([[1, 2]]), /needs an lm_head model/);
    model.dispose();
    const soft = buildModel(
      architecture({
        name: "clf-mean",
        nodes: [
          embedding({ vocab: 30, dim: 8 }),
          residual(),
          classifier({ pooling: "mean", classes: 3, activation: "softmax" }),
        ],
      }),
    );
    const q = soft.forward([[1, 2, 3], [4, 5, 6]]).dataSync();
    assert.ok(Math.abs(q[0] + q[1] + q[2] - 1) < 1e-6);
    soft.dispose();
  },
);

Deno.test(
  "save/load round trips: native (any architecture) and Hugging Face",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const model = buildModel(smallLm, { seed: 5 });
    const ids = [[1, 2, 3, 4, 5]];
    const before = model.forward(ids).dataSync();
    await saveModel(model, `${dir}/native`);
    const native = await loadModel(`${dir}/native`);
    assert.deepEqual(native.architecture, model.architecture);
    assert.deepEqual(native.forward(ids).dataSync(), before);
    // HF: a fixture loaded and written back reads back identically.
    const tiny = await loadModel(`${FIXTURES}tiny`);
    await saveModel(tiny, `${dir}/hf`, { format: "hf" });
    const configText = await Deno.readTextFile(`${dir}/hf/config.json`);
    // transformers rejects an int where its config declares a float.
    assert.match(configText, /"time_step_scale": 1\.0,/);
    const config = JSON.parse(configText);
    const original = JSON.parse(
      await Deno.readTextFile(`${FIXTURES}tiny/config.json`),
    );
    for (
      const key of [
        "vocab_size",
        "hidden_size",
        "state_size",
        "num_hidden_layers",
        "conv_kernel",
        "time_step_rank",
        "use_bias",
        "use_conv_bias",
        "tie_word_embeddings",
        "intermediate_size",
        "layer_norm_epsilon",
        "bos_token_id",
        "eos_token_id",
      ]
    ) {
      assert.deepEqual(config[key], original[key], key);
    }
    const again = await loadModel(`${dir}/hf`);
    const x = [[3, 1, 4, 1, 5, 9, 2, 6]];
    assert.deepEqual(again.forward(x).dataSync(), tiny.forward(x).dataSync());
    // A classifier cannot be written as a Hugging Face MambaForCausalLM.
    const clf = buildModel(
      architecture({
        name: "c",
        nodes: [
          embedding({ vocab: 9, dim: 4 }),
          residual(),
          classifier({ pooling: "last", classes: 2, activation: "softmax" }),
        ],
      }),
    );
    await assert.rejects(
      () => saveModel(clf, `${dir}/bad`, { format: "hf" }),
      /needs an lm_head model/,
    );
    for (const m of [model, native, tiny, again, clf]) m.dispose();
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("loadModel errors name the file and the field", opts, async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    () => loadModel(dir),
    /expected architecture.json .* or config.json/,
  );
  const config = JSON.parse(
    await Deno.readTextFile(`${FIXTURES}tiny/config.json`),
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, state_size: -2 }),
  );
  await Deno.copyFile(
    `${FIXTURES}tiny/model.safetensors`,
    `${dir}/model.safetensors`,
  );
  await assert.rejects(
    () => loadModel(dir),
    /config\.json: state_size: expected a positive integer, received -2/,
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, state_size: 4 }),
  );
  await assert.rejects(
    () => loadModel(dir),
    /A_log: expected shape \[64,4\], received \[64,8\]/,
  );
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const bytes = await Deno.readFile(`${FIXTURES}tiny/model.safetensors`);
  await Deno.writeFile(
    `${dir}/model.safetensors`,
    bytes.subarray(0, bytes.length - 100),
  );
  await assert.rejects(
    () => loadModel(dir),
    /model\.safetensors.*truncat|model\.safetensors.*expected/i,
  );
  await Deno.writeTextFile(`${dir}/config.json`, "{not json");
  await assert.rejects(() => loadModel(dir), /config\.json: invalid JSON/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("batch × length from 1 × 1 to 1 × 16384", opts, async () => {
  await setBackend("wasm");
  const arch = architecture({
    name: "len",
    nodes: [
      embedding({ vocab: 16, dim: 8 }),
      residual({ mixer: mamba({ dState: 4 }) }),
      rmsNorm(),
      lmHead(),
    ],
  });
  const model = buildModel(arch, { seed: 4 });
  for (const l of [1, 16384]) {
    const ids = [Array.from({ length: l }, (_, i) => (i * 7) % 16)];
    const logits = model.forward(ids);
    assert.deepEqual(logits.shape, [1, l, 16]);
    const data = await logits.data();
    assert.ok(data.every(Number.isFinite), `non-finite logits at L=${l}`);
    // The last position from a recurrent step (after a parallel prefill of
    // the rest, or from the zero state at L = 1) equals the parallel one.
    const pre = l > 1 ? model.prefill([ids[0].slice(0, l - 1)]) : null;
    const start = pre ? pre.state : model.initialState(1);
    const step = model.step([ids[0][l - 1]], start);
    const last = data.subarray((l - 1) * 16);
    assert.ok(relativeError(await step.logits.data(), last) <= 1e-5);
    tf.dispose([logits, start, step, ...(pre ? [pre.logits] : [])]);
  }
  model.dispose();
  await setBackend("cpu");
});

Deno.test(
  "loadModel reads sharded Hugging Face folders (model.safetensors.index.json) and F16 weights",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const { tensors } = await readSafetensors(
      `${FIXTURES}tiny/model.safetensors`,
    );
    const names = [...tensors.keys()];
    const shards = [
      names.slice(0, names.length / 2),
      names.slice(names.length / 2),
    ];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(
        `${dir}/${file}`,
        Object.fromEntries(shard.map((n) => [n, tensors.get(n)!])),
      );
      for (const n of shard) weightMap[n] = file;
    }
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await Deno.copyFile(`${FIXTURES}tiny/config.json`, `${dir}/config.json`);
    const sharded = await loadModel(dir);
    const single = await loadModel(`${FIXTURES}tiny`);
    const ids = [[5, 4, 3, 2, 1]];
    assert.deepEqual(
      sharded.forward(ids).dataSync(),
      single.forward(ids).dataSync(),
    );
    // F16 on disk: loads, and stays within F16 rounding of the F32 model.
    await saveModel(single, `${dir}/f16`, { format: "hf", dtype: "F16" });
    const half = await loadModel(`${dir}/f16`);
    const err = relativeError(
      half.forward(ids).dataSync(),
      single.forward(ids).dataSync(),
    );
    assert.ok(err > 0 && err < 5e-3, `F16 weights: relative error ${err}`);
    for (const m of [sharded, single, half]) m.dispose();
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  "wasm decode step: cached transposed weights follow a changed variable",
  opts,
  async () => {
    await setBackend("wasm");
    const model = buildModel(smallLm, { seed: 7 });
    const fresh = buildModel(smallLm, { seed: 8 });
    const run = async (m: typeof model) => {
      const { logits } = m.step([3, 9], m.initialState(2));
      const data = await logits.data();
      logits.dispose();
      return data;
    };
    const before = await run(model);
    // Every weight of `model` takes `fresh`'s value: the step must follow.
    for (const [name, v] of model.params) v.assign(fresh.params.get(name)!);
    const after = await run(model);
    const want = await run(fresh);
    assert.deepEqual(Array.from(after), Array.from(want));
    assert.notDeepEqual(Array.from(before), Array.from(want));
    model.dispose();
    fresh.dispose();
  },
);

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(
    `prefill lastOnly = the last row of the full prefill, same state (${backend}) ≤ 1e-6`,
    opts,
    async () => {
      await setBackend(backend);
      const model = buildModel(smallLm, { seed: 2 });
      const ids = [[5, 1, 7, 7, 2, 30], [9, 9, 4, 0, 11, 3]];
      const full = model.prefill(ids);
      const last = model.prefill(ids, { lastOnly: true });
      const [b, l, v] = full.logits.shape;
      assert.deepEqual(last.logits.shape, [b, 1, v]);
      const want = full.logits.slice([0, l - 1, 0], [b, 1, v]);
      const err = relativeError(await last.logits.data(), await want.data());
      assert.ok(err <= 1e-6, `logits: ${err}`);
      for (const [i, layer] of full.state.layers.entries()) {
        const other = last.state.layers[i];
        assert.deepEqual(
          Array.from(await other.ssm.data()),
          Array.from(await layer.ssm.data()),
        );
        assert.deepEqual(
          Array.from(await other.conv.data()),
          Array.from(await layer.conv.data()),
        );
      }
      tf.dispose([full.logits, last.logits, want]);
      for (const s of [full.state, last.state]) {
        for (const layer of s.layers) tf.dispose([layer.conv, layer.ssm]);
      }
      model.dispose();
    },
  );
}
