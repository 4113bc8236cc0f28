/**
 * Hugging Face `MambaConfig` ⇄ architecture DSL.
 *
 * Every field of the config that changes the computation is honoured;
 * fields that name something this project cannot compute are rejected with
 * the field's name rather than silently ignored.
 *
 * Reference: Hugging Face transformers `models/mamba/configuration_mamba.py`;
 * the original state-spaces checkpoints' `config.json` (`d_model`, `n_layer`,
 * `ssm_cfg`, …) as read by mamba_ssm `MambaLMHeadModel.from_pretrained`.
 *
 * @module
 */
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import type { Architecture } from "../dsl/schema.ts";
import { resolveArchitecture } from "../dsl/resolve.ts";
import { type SizeLimits, UNLIMITED_SIZES } from "../dsl/sizes.ts";
import { buildFromConfig, type ConfigKeys } from "./_config_keys.ts";
import {
  architectureFromFalconConfig,
  architectureFromMamba2Config,
  architectureFromStateSpacesMamba2,
  field,
  isBool,
  isPosInt,
  mamba2HfConfig,
  type Mamba2NormChoice,
} from "./_hf_ssm_config.ts";

type Json = Record<string, unknown>;

const isNum = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/** Options of {@linkcode architectureFromHfConfig}. */
export interface HfConfigOptions {
  /** Size limits of the architecture (see `dsl/sizes.ts`). */
  limits?: SizeLimits;
  /**
   * `model_type: "mamba2"`: the gated norm's semantics, `"official"`
   * (default, per group, as state-spaces/mamba) or `"transformers"` (whole
   * width, as transformers 5.17's torch path); see `_hf_ssm_config.ts`.
   */
  mamba2Norm?: Mamba2NormChoice;
}

/** Where each field of the architecture built below comes from (HF keys). */
const HF_KEYS = (config: Json): ConfigKeys => {
  const layer = "nodes[1].body[0]";
  return {
    "nodes[0].vocab": "vocab_size",
    "nodes[0].dim": "hidden_size",
    "nodes[1].times": "num_hidden_layers",
    [`${layer}.norm.eps`]: "layer_norm_epsilon",
    [`${layer}.mixer.dState`]: "state_size",
    [`${layer}.mixer.expand`]: "intermediate_size" in config
      ? "intermediate_size"
      : "expand",
    [`${layer}.mixer.dConv`]: "conv_kernel",
    [`${layer}.mixer.dtRank`]: "time_step_rank",
    [`${layer}.mixer.bias`]: "use_bias",
    [`${layer}.mixer.convBias`]: "use_conv_bias",
    [`${layer}.mixer.dtMin`]: "time_step_min",
    [`${layer}.mixer.dtMax`]: "time_step_max",
    [`${layer}.mixer.dtFloor`]: "time_step_floor",
    [`${layer}.mixer.dtScale`]: "time_step_scale",
    [`${layer}.mixer.dtInit`]: "time_step_init_scheme",
    "nodes[2].eps": "layer_norm_epsilon",
    "nodes[3].tied": "tie_word_embeddings",
  };
};

/** The same for the original state-spaces `config.json`. */
const STATE_SPACES_KEYS: ConfigKeys = {
  "nodes[0].vocab": "vocab_size",
  "nodes[0].dim": "d_model",
  "nodes[0].padVocabMultiple": "pad_vocab_size_multiple",
  "nodes[1].times": "n_layer",
  "nodes[1].body[0].mixer.dState": "ssm_cfg.d_state",
  "nodes[1].body[0].mixer.expand": "ssm_cfg.expand",
  "nodes[1].body[0].mixer.dConv": "ssm_cfg.d_conv",
  "nodes[1].body[0].mixer.dtRank": "ssm_cfg.dt_rank",
  "nodes[1].body[0].mixer.bias": "ssm_cfg.bias",
  "nodes[1].body[0].mixer.convBias": "ssm_cfg.conv_bias",
  "nodes[3].tied": "tie_embeddings",
};

/**
 * Builds the architecture a Hugging Face (or original state-spaces) Mamba
 * `config.json` describes. Every error names the file and the config key
 * (`config.json: layer_norm_epsilon: expected a positive number, received
 * -1`), the size limits' included.
 *
 * @param config the parsed config.json.
 * @param source file name used in error messages.
 * @param options size limits.
 * @returns the validated architecture.
 * @throws Error naming the file, the key, what was expected and what came.
 */
export function architectureFromHfConfig(
  config: Json,
  source = "config.json",
  options: HfConfigOptions = {},
): Architecture {
  if ("d_model" in config && !("hidden_size" in config)) {
    return fromStateSpacesConfig(config, source, options.limits);
  }
  const f = <T>(
    name: string,
    check: (v: unknown) => v is T,
    expected: string,
    fallback?: T,
  ) => field(config, name, check, expected, fallback, source);
  if (config.model_type === "mamba2") {
    return architectureFromMamba2Config(config, source, options);
  }
  if (config.model_type === "falcon_mamba") {
    return architectureFromFalconConfig(
      config,
      source,
      (c) => architectureFromHfConfig(c, source, options),
    );
  }
  const modelType = f("model_type", isStr, '"mamba"', "mamba");
  if (modelType !== "mamba") {
    throw new Error(
      `${source}: model_type: expected "mamba", "mamba2" or "falcon_mamba", received ${
        JSON.stringify(modelType)
      }`,
    );
  }
  const act = f("hidden_act", isStr, '"silu"', "silu");
  if (act !== "silu") {
    throw new Error(
      `${source}: hidden_act: expected "silu" (the only activation Mamba uses), received ${
        JSON.stringify(act)
      }`,
    );
  }
  const hidden = f("hidden_size", isPosInt, "a positive integer", 768);
  const expand = f("expand", isPosInt, "a positive integer", 2);
  const intermediate = f(
    "intermediate_size",
    isPosInt,
    "a positive integer",
    expand * hidden,
  );
  if (intermediate % hidden !== 0) {
    throw new Error(
      `${source}: intermediate_size: expected a multiple of hidden_size ${hidden}, received ${intermediate}`,
    );
  }
  const rank = config.time_step_rank ?? "auto";
  if (rank !== "auto" && !isPosInt(rank)) {
    throw new Error(
      `${source}: time_step_rank: expected "auto" or a positive integer, received ${
        JSON.stringify(rank)
      }`,
    );
  }
  const scheme = f(
    "time_step_init_scheme",
    isStr,
    '"random" or "constant"',
    "random",
  );
  if (scheme !== "random" && scheme !== "constant") {
    throw new Error(
      `${source}: time_step_init_scheme: expected "random" or "constant", received ${
        JSON.stringify(scheme)
      }`,
    );
  }
  const eps = f("layer_norm_epsilon", isNum, "a positive number", 1e-5);
  return buildFromConfig(source, config, HF_KEYS(config), () =>
    architecture({
      name: isStr(config._name_or_path) && config._name_or_path
        ? config._name_or_path
        : "hf-mamba",
      nodes: [
        embedding({
          vocab: f("vocab_size", isPosInt, "a positive integer", 50280),
          dim: hidden,
        }),
        repeat(f("num_hidden_layers", isPosInt, "a positive integer", 32), [
          residual({
            norm: rmsNorm(eps),
            mixer: mamba({
              dState: f("state_size", isPosInt, "a positive integer", 16),
              expand: intermediate / hidden,
              dConv: f("conv_kernel", isPosInt, "a positive integer", 4),
              dtRank: rank as "auto" | number,
              bias: f("use_bias", isBool, "a boolean", false),
              convBias: f("use_conv_bias", isBool, "a boolean", true),
              dtMin: f("time_step_min", isNum, "a positive number", 0.001),
              dtMax: f("time_step_max", isNum, "a positive number", 0.1),
              dtFloor: f("time_step_floor", isNum, "a positive number", 1e-4),
              dtScale: f("time_step_scale", isNum, "a number", 1),
              dtInit: scheme,
            }),
          }),
        ]),
        rmsNorm(eps),
        lmHead({ tied: f("tie_word_embeddings", isBool, "a boolean", true) }),
      ],
    }, options.limits));
}

function fromStateSpacesConfig(
  config: Json,
  source: string,
  limits: SizeLimits | undefined,
): Architecture {
  const f = <T>(
    name: string,
    check: (v: unknown) => v is T,
    expected: string,
    fallback?: T,
  ) => field(config, name, check, expected, fallback, source);
  const ssm = (config.ssm_cfg ?? {}) as Json;
  if (ssm.layer === "Mamba2") {
    return architectureFromStateSpacesMamba2(config, source, limits);
  }
  if (ssm.layer !== undefined && ssm.layer !== "Mamba1") {
    throw new Error(
      `${source}: ssm_cfg.layer: expected "Mamba1" or "Mamba2", received ${
        JSON.stringify(ssm.layer)
      }`,
    );
  }
  if (config.rms_norm === false) {
    throw new Error(
      `${source}: rms_norm: expected true (LayerNorm checkpoints are not supported by this reader), received false`,
    );
  }
  const g = <T>(
    name: string,
    check: (v: unknown) => v is T,
    expected: string,
    fallback: T,
  ) => field(ssm, name, check, expected, fallback, `${source}: ssm_cfg`);
  return buildFromConfig(source, config, STATE_SPACES_KEYS, () =>
    architecture({
      name: "state-spaces-mamba",
      nodes: [
        embedding({
          vocab: f("vocab_size", isPosInt, "a positive integer"),
          dim: f("d_model", isPosInt, "a positive integer"),
          padVocabMultiple: f(
            "pad_vocab_size_multiple",
            isPosInt,
            "a positive integer",
            8,
          ),
        }),
        repeat(f("n_layer", isPosInt, "a positive integer"), [
          residual({
            norm: rmsNorm(1e-5),
            mixer: mamba({
              dState: g("d_state", isPosInt, "a positive integer", 16),
              expand: g("expand", isPosInt, "a positive integer", 2),
              dConv: g("d_conv", isPosInt, "a positive integer", 4),
              dtRank: (ssm.dt_rank as number | "auto" | undefined) ?? "auto",
              bias: g("bias", isBool, "a boolean", false),
              convBias: g("conv_bias", isBool, "a boolean", true),
            }),
          }),
        ]),
        rmsNorm(1e-5),
        lmHead({ tied: f("tie_embeddings", isBool, "a boolean", true) }),
      ],
    }, limits));
}

/**
 * Writes the Hugging Face `MambaConfig` of an architecture.
 *
 * Only architectures Hugging Face can represent are accepted: embedding,
 * identical RMSNorm + Mamba residual layers, a final RMSNorm and an LM head
 * (dropout is the identity at inference and is dropped).
 *
 * @param arch the architecture.
 * @param extra fields to keep (e.g. token ids of the original config).
 * @returns the config object for config.json.
 * @throws Error naming what Hugging Face cannot represent.
 */
export function hfConfigFromArchitecture(
  arch: Architecture,
  extra: Json = {},
): Json {
  // Writing a config allocates nothing: a model built under raised size
  // limits is written as it is.
  const r = resolveArchitecture(arch, UNLIMITED_SIZES);
  const fail = (what: string) => {
    throw new Error(`saveModel: format "hf": ${what}`);
  };
  const head = r.plan[r.plan.length - 1];
  if (head.kind !== "lm_head") {
    fail(`needs an lm_head model, received a ${head.kind} head`);
  }
  const norms = r.plan.filter((s) => s.kind === "norm");
  if (
    norms.length !== 1 || norms[0].kind !== "norm" ||
    norms[0].norm.kind !== "rms_norm"
  ) {
    fail("needs exactly one final rms_norm before the head");
  }
  const first = r.layers[0];
  for (const layer of r.layers) {
    if (layer.norm.kind !== "rms_norm") {
      fail(`layer ${layer.index}: norm must be rms_norm`);
    }
    if (layer.mixer.kind !== first.mixer.kind) {
      fail(
        `layer ${layer.index}: a "${layer.mixer.kind}" mixer after layer 0's "${first.mixer.kind}": a Hugging Face config has one mixer kind for every layer (save a mixed stack in the native format)`,
      );
    }
    if (JSON.stringify(layer.mixer) !== JSON.stringify(first.mixer)) {
      fail(`layer ${layer.index}: every layer's mixer must be identical`);
    }
    if (layer.norm.eps !== first.norm.eps) {
      fail(`layer ${layer.index}: norm eps differs`);
    }
  }
  if (first.mixer.kind === "mamba2") {
    return mamba2HfConfig(r, {
      bos_token_id: 0,
      eos_token_id: 0,
      pad_token_id: 0,
      ...extra,
      vocab_size: r.paddedVocab,
      hidden_size: r.dModel,
      num_hidden_layers: r.layers.length,
      layer_norm_epsilon: first.norm.eps,
      tie_word_embeddings: head.kind === "lm_head" && head.tied,
    });
  }
  const m = first.mixer;
  const falcon = m.bcdtRmsEps === undefined ? {} : {
    architectures: ["FalconMambaForCausalLM"],
    model_type: "falcon_mamba",
    mixer_rms_eps: m.bcdtRmsEps,
  };
  return {
    architectures: ["MambaForCausalLM"],
    model_type: "mamba",
    bos_token_id: 0,
    eos_token_id: 0,
    pad_token_id: 0,
    ...extra,
    vocab_size: r.paddedVocab,
    hidden_size: r.dModel,
    state_size: m.dState,
    num_hidden_layers: r.layers.length,
    layer_norm_epsilon: first.norm.eps,
    expand: m.expand,
    conv_kernel: m.dConv,
    use_bias: m.bias,
    use_conv_bias: m.convBias,
    hidden_act: "silu",
    initializer_range: 0.1,
    residual_in_fp32: true,
    time_step_rank: m.dtRankValue,
    time_step_scale: m.dtScale,
    time_step_min: m.dtMin,
    time_step_max: m.dtMax,
    time_step_init_scheme: m.dtInit,
    time_step_floor: m.dtFloor,
    rescale_prenorm_residual: false,
    use_cache: true,
    intermediate_size: m.dInner,
    tie_word_embeddings: head.kind === "lm_head" && head.tied,
    dtype: "float32",
    ...falcon,
  };
}
