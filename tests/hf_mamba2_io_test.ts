/**
 * Mamba-2 and Falcon-Mamba Hugging Face folders: `saveModel(…, {format:
 * "hf"})` writes a config transformers reads as the same model and
 * `loadModel` reads it back to the same logits; what HF's configs cannot say
 * is refused with a message (a mixed stack; an official-norm model with
 * groups > 1, which transformers 5.17 would normalise over the whole width);
 * bad configs and weights are refused naming the key or the tensor (issue
 * 14 §5); the prebuilt WebGPU paths decline both kinds (generation then
 * runs the tfjs program: greedy ids on webgpu in the parity tests).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { setBackend, tf } from "../kernels/backend.ts";
import { loadModel, saveModel } from "../models/io.ts";
import { architectureFromHfConfig } from "../models/hf_config.ts";
import { readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import { buildModel } from "../models/model.ts";
import { gpuForwardUnsupported } from "../infer/gpu_forward.ts";
import { gpuDecodeUnsupported } from "../infer/gpu_decoder.ts";
import { notMamba1 } from "../infer/_mamba1_only.ts";
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  mamba2,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { hasWebGPU } from "../kernels/backend.ts";
import type { MambaModel } from "../models/types.ts";
import { relativeError } from "./_util.ts";
import { readSsmExpected, SSM_FIXTURES } from "./_ssm_fixtures.ts";
import { tempDirForModule } from "./_temp_dir.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

async function logitsOf(model: MambaModel, ids: number[][]) {
  const t = model.forward(ids);
  const data = await t.data() as Float32Array;
  t.dispose();
  return data;
}

async function configOf(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
}

/**
 * Loads `dir` back (with `options`), runs `check` on it, asserts its logits
 * on `ids` equal `model`'s exactly, and disposes both models.
 */
async function assertReloadsSame(
  model: MambaModel,
  dir: string,
  ids: number[][],
  o: {
    options?: Parameters<typeof loadModel>[1];
    check?: (back: MambaModel) => void;
  } = {},
) {
  const back = await loadModel(dir, o.options);
  o.check?.(back);
  assert.equal(
    relativeError(await logitsOf(back, ids), await logitsOf(model, ids)),
    0,
  );
  back.dispose();
  model.dispose();
}

/** Each patch of `base` is refused by architectureFromHfConfig with its message. */
function assertConfigErrors(
  base: Record<string, unknown>,
  cases: [Record<string, unknown>, RegExp][],
) {
  for (const [patch, message] of cases) {
    assert.throws(
      () => architectureFromHfConfig({ ...base, ...patch }, "config.json"),
      message,
      JSON.stringify(patch),
    );
  }
}

Deno.test({
  name:
    "Mamba-2 HF export: tiny saved and loaded back gives the same logits; config.json holds every Mamba2Config field",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const src = `${SSM_FIXTURES}hf-mamba2/tiny`;
  const ids = (await readSsmExpected("hf-mamba2/tiny")).ids.get("input_ids")!;
  const model = await loadModel(src);
  const dir = await tempDirForModule("hf-mamba2-io-");
  await saveModel(model, dir, { format: "hf" });
  const text = await Deno.readTextFile(join(dir, "config.json"));
  assert.match(
    text,
    /"time_step_limit": \[\s*0\.0,\s*\{\s*"__float__": "Infinity"\s*\}\s*\]/,
  );
  const written = JSON.parse(text);
  const original = await configOf(src);
  for (
    const key of [
      "model_type",
      "architectures",
      "num_heads",
      "head_dim",
      "n_groups",
      "state_size",
      "expand",
      "conv_kernel",
      "chunk_size",
      "use_bias",
      "use_conv_bias",
      "hidden_size",
      "num_hidden_layers",
      "vocab_size",
      "layer_norm_epsilon",
      "time_step_min",
      "time_step_max",
      "time_step_floor",
      "time_step_limit",
      "tie_word_embeddings",
      "bos_token_id",
      "eos_token_id",
      "pad_token_id",
    ]
  ) {
    assert.deepEqual(written[key], original[key], key);
  }
  await assertReloadsSame(model, dir, ids);
});

Deno.test({
  name:
    "Mamba-2 HF export: an official-norm model with 2 groups is refused (transformers would read it differently); with the transformers norm it round-trips",
  ...opts,
}, async () => {
  await setBackend("wasm");
  const src = `${SSM_FIXTURES}hf-mamba2/long`;
  const dir = await tempDirForModule("hf-mamba2-io-");
  const official = await loadModel(src);
  await assert.rejects(
    () => saveModel(official, dir, { format: "hf" }),
    /gated norm is "official" with groups 2.*transformers 5\.17 normalises the whole 128 channels and would read this model differently/,
  );
  official.dispose();
  const model = await loadModel(src, { mamba2Norm: "transformers" });
  await saveModel(model, dir, { format: "hf" });
  const ids = [
    (await readSsmExpected("hf-mamba2/long")).ids.get("input_ids")![0].slice(
      0,
      100,
    ),
  ];
  await assertReloadsSame(model, dir, ids, {
    options: { mamba2Norm: "transformers" },
  });
});

Deno.test({
  name:
    "Falcon-Mamba HF export: model_type falcon_mamba with mixer_rms_eps; loaded back gives the same logits",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const src = `${SSM_FIXTURES}hf-falcon-mamba/tiny`;
  const ids = (await readSsmExpected("hf-falcon-mamba/tiny")).ids.get(
    "input_ids",
  )!;
  const model = await loadModel(src);
  const dir = await tempDirForModule("hf-mamba2-io-");
  await saveModel(model, dir, { format: "hf" });
  const written = await configOf(dir);
  assert.equal(written.model_type, "falcon_mamba");
  assert.deepEqual(written.architectures, ["FalconMambaForCausalLM"]);
  assert.equal(written.mixer_rms_eps, 1e-6);
  await assertReloadsSame(model, dir, ids, {
    check: (back) => {
      const m = back.resolved.layers[1].mixer;
      assert.equal(m.kind === "mamba" && m.bcdtRmsEps, 1e-6);
    },
  });
});

Deno.test({
  name:
    "HF export refuses a mixed Mamba-1 / Mamba-2 stack naming the layer; the native format keeps it",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const model = buildModel(architecture({
    name: "mixed",
    nodes: [
      embedding({ vocab: 16, dim: 32 }),
      residual({ mixer: mamba({ dState: 4 }) }),
      residual({
        mixer: mamba2({ headDim: 16, groups: 1, dState: 8, chunkSize: 8 }),
      }),
      rmsNorm(),
      lmHead(),
    ],
  }));
  const dir = await tempDirForModule("hf-mamba2-io-");
  await assert.rejects(
    () => saveModel(model, dir, { format: "hf" }),
    /layer 1: a "mamba2" mixer after layer 0's "mamba": a Hugging Face config has one mixer kind/,
  );
  await saveModel(model, dir);
  await assertReloadsSame(model, dir, [[1, 2, 3, 4, 5]]);
});

Deno.test("Mamba-2 config errors name the config.json key", async () => {
  const base = await configOf(`${SSM_FIXTURES}hf-mamba2/long`);
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { num_heads: 5 },
      /config\.json: num_heads: expected heads \* headDim = dInner \(expand 2 \* dim 64 = 128\), received 5/,
    ],
    [
      { n_groups: 3 },
      /config\.json: n_groups: expected a divisor of the 4 heads, received 3/,
    ],
    [
      { chunk_size: 0 },
      /config\.json: chunk_size: expected a positive integer, received 0/,
    ],
    [
      { time_step_limit: [1, 0.5] },
      /config\.json: time_step_limit: expected \[lo, hi\]/,
    ],
    [
      { time_step_limit: "wide" },
      /config\.json: time_step_limit: expected \[lo, hi\]/,
    ],
    [{ rms_norm: false }, /config\.json: rms_norm: expected true/],
    [
      { norm_before_gate: true },
      /config\.json: norm_before_gate: expected false/,
    ],
    [{ hidden_act: "gelu" }, /config\.json: hidden_act: expected "silu"/],
    [
      { head_dim: -2 },
      /config\.json: head_dim: expected a positive integer, received -2/,
    ],
  ];
  assertConfigErrors(base, cases);
  assert.throws(
    () =>
      architectureFromHfConfig(base, "config.json", {
        mamba2Norm: "hf" as "official",
      }),
    /config\.json: option mamba2Norm: expected "official" or "transformers", received "hf"/,
  );
  // time_step_limit as transformers writes it, and as plain numbers
  const arch = architectureFromHfConfig(
    { ...base, time_step_limit: [0.001, 0.5] },
    "config.json",
  );
  const node = arch.nodes[1];
  assert.ok(node.kind === "repeat" && node.body[0].kind === "residual");
  const m = node.body[0].mixer;
  assert.deepEqual(m.kind === "mamba2" && m.dtLimit, [0.001, 0.5]);
  const falcon = await configOf(`${SSM_FIXTURES}hf-falcon-mamba/tiny`);
  assert.throws(
    () =>
      architectureFromHfConfig({ ...falcon, mixer_rms_eps: 0 }, "config.json"),
    /config\.json: mixer_rms_eps: expected a positive number, received 0/,
  );
});

/** A copy of hf-mamba2/tiny with its weights edited. */
async function editedFolder(
  edit: (t: Map<string, { data: Float32Array; shape: number[] }>) => void,
): Promise<string> {
  const src = `${SSM_FIXTURES}hf-mamba2/tiny`;
  const dir = await tempDirForModule("hf-mamba2-io-");
  await Deno.copyFile(`${src}/config.json`, `${dir}/config.json`);
  const { tensors } = await readSafetensors(`${src}/model.safetensors`);
  const map = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, t] of tensors) {
    map.set(name, { data: t.data as Float32Array, shape: t.shape });
  }
  edit(map);
  await writeSafetensors(`${dir}/model.safetensors`, Object.fromEntries(map));
  return dir;
}

Deno.test({
  name:
    "Mamba-2 weights: a missing norm.weight or an A_log of the wrong shape is refused naming the tensor",
  ...opts,
}, async () => {
  await setBackend("cpu");
  const before = tf.memory().numTensors;
  const missing = await editedFolder((t) =>
    t.delete("backbone.layers.1.mixer.norm.weight")
  );
  await assert.rejects(
    () => loadModel(missing),
    /backbone\.layers\.1\.mixer\.norm\.weight: missing \(expected shape \[128\]\)/,
  );
  const wrong = await editedFolder((t) =>
    t.set("backbone.layers.0.mixer.A_log", {
      data: new Float32Array(8 * 16),
      shape: [8, 16],
    })
  );
  await assert.rejects(
    () => loadModel(wrong),
    /backbone\.layers\.0\.mixer\.A_log: expected shape \[8\], received \[8,16\]/,
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test({
  name:
    "prebuilt WebGPU paths decline Mamba-2 and Falcon-Mamba layers by name (generation falls back to tfjs)",
  ...opts,
}, async () => {
  const m2 = await loadModel(`${SSM_FIXTURES}hf-mamba2/tiny`);
  const falcon = await loadModel(`${SSM_FIXTURES}hf-falcon-mamba/tiny`);
  assert.match(
    notMamba1(m2.resolved.layers[0])!,
    /layer 0: mixer "mamba2" is not supported by the prebuilt WebGPU path/,
  );
  assert.match(
    notMamba1(falcon.resolved.layers[1])!,
    /layer 1: Falcon-Mamba's B\/C\/Δ RMS norms \(bcdtRmsEps\)/,
  );
  m2.dispose();
  falcon.dispose();
  if (!await hasWebGPU()) return; // the reasons below need the webgpu backend
  await setBackend("webgpu");
  for (const dir of ["hf-mamba2/tiny", "hf-falcon-mamba/tiny"]) {
    const model = await loadModel(`${SSM_FIXTURES}${dir}`);
    assert.match(gpuForwardUnsupported(model)!, /layer 0: /);
    assert.match(gpuDecodeUnsupported(model)!, /layer 0: /);
    model.dispose();
  }
  const plain = await loadModel(`${SSM_FIXTURES}hf-mamba/tiny`);
  assert.equal(gpuDecodeUnsupported(plain), null);
  plain.dispose();
});

Deno.test({
  name:
    "state-spaces Mamba-2 config.json (ssm_cfg.layer Mamba2) reads with the official semantics: long's weights give logits_official_f64; what it cannot compute is refused by key",
  ...opts,
}, async () => {
  await setBackend("wasm");
  const src = `${SSM_FIXTURES}hf-mamba2/long`;
  const config = {
    d_model: 64,
    d_intermediate: 0,
    n_layer: 3,
    vocab_size: 512,
    ssm_cfg: {
      layer: "Mamba2",
      d_state: 32,
      headdim: 32,
      ngroups: 2,
      chunk_size: 64,
    },
    attn_layer_idx: [],
    attn_cfg: {},
    rms_norm: true,
    residual_in_fp32: true,
    fused_add_norm: true,
    pad_vocab_size_multiple: 8,
    tie_embeddings: false,
  };
  const dir = await tempDirForModule("hf-mamba2-io-");
  await Deno.copyFile(`${src}/model.safetensors`, `${dir}/model.safetensors`);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const model = await loadModel(dir);
  const expected = await readSsmExpected("hf-mamba2/long");
  const ids = [expected.ids.get("input_ids")![0].slice(0, 100)];
  const want = expected.floats.get("logits_official_f64")!.subarray(
    0,
    100 * 512,
  );
  const err = relativeError(await logitsOf(model, ids), want);
  assert.ok(err <= 1e-5, `relative error ${err.toExponential(2)}`);
  model.dispose();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ d_intermediate: 128 }, /config\.json: d_intermediate: expected 0/],
    [{ attn_layer_idx: [1] }, /config\.json: attn_layer_idx: expected \[\]/],
    [
      { ssm_cfg: { ...config.ssm_cfg, ngroups: 3 } },
      /config\.json: ssm_cfg\.ngroups: expected a divisor of the 4 heads, received 3/,
    ],
    [
      { ssm_cfg: { ...config.ssm_cfg, d_ssm: 64 } },
      /config\.json: ssm_cfg\.d_ssm: expected null or expand \* d_model = 128/,
    ],
    [
      { ssm_cfg: { ...config.ssm_cfg, dt_limit: [0.2, 0.1] } },
      /config\.json: ssm_cfg\.dt_limit: expected \[lo, hi\]/,
    ],
    [
      { ssm_cfg: { ...config.ssm_cfg, layer: "Mamba3" } },
      /config\.json: ssm_cfg\.layer: expected "Mamba1" or "Mamba2"/,
    ],
  ];
  assertConfigErrors(config, cases);
  const limited = architectureFromHfConfig({
    ...config,
    ssm_cfg: { ...config.ssm_cfg, dt_limit: [0.001, 0.5] },
  }, "config.json").nodes[1];
  assert.ok(limited.kind === "repeat" && limited.body[0].kind === "residual");
  const m = limited.body[0].mixer;
  assert.deepEqual(m.kind === "mamba2" && m.dtLimit, [0.001, 0.5]);
});
