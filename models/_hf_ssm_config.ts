/**
 * Private: Hugging Face `Mamba2Config` (`model_type: "mamba2"`) and
 * `FalconMambaConfig` (`"falcon_mamba"`) ⇄ architecture DSL, for
 * `hf_config.ts`. Every field that changes the computation is honoured;
 * a value this project cannot compute is refused naming the key; fields
 * that only concern PyTorch (`residual_in_fp32`, `use_cache`,
 * `initializer_range`, `rescale_prenorm_residual`, Falcon's
 * `use_mambapy` / `use_associative_scan`, Mamba-2's unused
 * `time_step_rank`) are read past.
 *
 * Mamba-2's gated RMSNorm: transformers 5.17 normalises the whole dInner
 * with `layer_norm_epsilon`, the official `Mamba2` each of the `n_groups`
 * groups with eps 1e-5. A folder is read with the official semantics unless
 * asked (`mamba2Norm: "transformers"`); the two agree when n_groups is 1 and
 * `layer_norm_epsilon` is 1e-5.
 *
 * Reference: transformers 5.17 `models/mamba2/configuration_mamba2.py`,
 * `models/falcon_mamba/configuration_falcon_mamba.py`; state-spaces/mamba
 * `modules/mamba2.py`.
 *
 * @module
 */
import {
  architecture,
  embedding,
  lmHead,
  mamba2,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import type { Architecture } from "../dsl/schema.ts";
import type { ResolvedArchitecture, ResolvedMamba2 } from "../dsl/resolve.ts";
import type { SizeLimits } from "../dsl/sizes.ts";
import { buildFromConfig, type ConfigKeys } from "./_config_keys.ts";

type Json = Record<string, unknown>;

/** How a Mamba-2 folder's gated norm is read (see the module doc). */
export type Mamba2NormChoice = "official" | "transformers";

/** A positive integer (shared with hf_config.ts). */
export const isPosInt = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) > 0;
const isPosNum = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v) && v > 0;
/** A boolean (shared with hf_config.ts). */
export const isBool = (v: unknown): v is boolean => typeof v === "boolean";

/**
 * `config[name]` checked, or the fallback when absent (and one is given);
 * the error names `source` and the field. Shared with hf_config.ts.
 */
export function field<T>(
  config: Json,
  name: string,
  check: (v: unknown) => v is T,
  expected: string,
  fallback?: T,
  source = "config.json",
): T {
  const value = config[name];
  if (value === undefined && fallback !== undefined) return fallback;
  if (!check(value)) {
    throw new Error(
      `${source}: ${name}: expected ${expected}, received ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/** A float as transformers writes it: a number or `{"__float__": "Infinity"}`. */
function floatOf(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (v !== null && typeof v === "object" && "__float__" in v) {
    const text = (v as { __float__: unknown }).__float__;
    if (typeof text === "string") {
      const x = Number(text);
      if (!Number.isNaN(x)) return x;
    }
  }
  return undefined;
}

/** `time_step_limit` → the DSL's [lo, hi | null] (null = no upper limit). */
function timeStepLimit(
  config: Json,
  source: string,
  key = "time_step_limit",
): [number, number | null] {
  const raw = config.time_step_limit;
  if (raw === undefined) return [0, null];
  const pair = Array.isArray(raw) ? raw.map(floatOf) : [];
  const [lo, hi] = pair;
  if (
    pair.length !== 2 || lo === undefined || hi === undefined ||
    !(lo >= 0) || !(hi > 0) || lo === Infinity || lo > hi
  ) {
    throw new Error(
      `${source}: ${key}: expected [lo, hi] with 0 <= lo <= hi (hi may be {"__float__": "Infinity"}), received ${
        JSON.stringify(raw)
      }`,
    );
  }
  return [lo, hi === Infinity ? null : hi];
}

/** Where each field of the Mamba-2 architecture comes from (HF keys). */
const MAMBA2_KEYS: ConfigKeys = {
  "nodes[0].vocab": "vocab_size",
  "nodes[0].dim": "hidden_size",
  "nodes[1].times": "num_hidden_layers",
  "nodes[1].body[0].norm.eps": "layer_norm_epsilon",
  "nodes[1].body[0].mixer.heads": "num_heads",
  "nodes[1].body[0].mixer.headDim": "head_dim",
  "nodes[1].body[0].mixer.groups": "n_groups",
  "nodes[1].body[0].mixer.dState": "state_size",
  "nodes[1].body[0].mixer.expand": "expand",
  "nodes[1].body[0].mixer.dConv": "conv_kernel",
  "nodes[1].body[0].mixer.chunkSize": "chunk_size",
  "nodes[1].body[0].mixer.bias": "use_bias",
  "nodes[1].body[0].mixer.convBias": "use_conv_bias",
  "nodes[1].body[0].mixer.dtMin": "time_step_min",
  "nodes[1].body[0].mixer.dtMax": "time_step_max",
  "nodes[1].body[0].mixer.dtFloor": "time_step_floor",
  "nodes[1].body[0].mixer.dtLimit": "time_step_limit",
  "nodes[1].body[0].mixer.normEps": "layer_norm_epsilon",
  "nodes[2].eps": "layer_norm_epsilon",
  "nodes[3].tied": "tie_word_embeddings",
};

/**
 * The architecture a `model_type: "mamba2"` config describes.
 *
 * @param config the parsed config.json.
 * @param source file name for messages.
 * @param options size limits; the gated norm's semantics (default official).
 * @returns the validated architecture.
 * @throws Error naming the file and the key at fault.
 */
export function architectureFromMamba2Config(
  config: Json,
  source: string,
  options: { limits?: SizeLimits; mamba2Norm?: Mamba2NormChoice } = {},
): Architecture {
  const f = <T>(
    name: string,
    check: (v: unknown) => v is T,
    expected: string,
    fallback: T,
  ) => field(config, name, check, expected, fallback, source);
  const refuse = (name: string, expected: string) => {
    throw new Error(
      `${source}: ${name}: expected ${expected}, received ${
        JSON.stringify(config[name])
      }`,
    );
  };
  if ((config.hidden_act ?? "silu") !== "silu") {
    refuse("hidden_act", '"silu" (the only activation Mamba-2 uses)');
  }
  if ((config.rms_norm ?? true) !== true) {
    refuse("rms_norm", "true (Mamba-2's gated norm is an RMSNorm)");
  }
  if ((config.norm_before_gate ?? false) !== false) {
    refuse(
      "norm_before_gate",
      "false (y · SiLU(z) before the norm, as transformers and the official Mamba2 default)",
    );
  }
  const hidden = f("hidden_size", isPosInt, "a positive integer", 4096);
  const expand = f("expand", isPosInt, "a positive integer", 2);
  if (
    config.intermediate_size !== undefined &&
    config.intermediate_size !== expand * hidden
  ) {
    refuse(
      "intermediate_size",
      `expand * hidden_size = ${expand * hidden} (Mamba-2's inner width)`,
    );
  }
  const eps = f("layer_norm_epsilon", isPosNum, "a positive number", 1e-5);
  const norm = options.mamba2Norm ?? "official";
  if (norm !== "official" && norm !== "transformers") {
    throw new Error(
      `${source}: option mamba2Norm: expected "official" or "transformers", received ${
        JSON.stringify(norm)
      }`,
    );
  }
  const dtLimit = timeStepLimit(config, source);
  return buildFromConfig(source, config, MAMBA2_KEYS, () =>
    architecture({
      name: typeof config._name_or_path === "string" && config._name_or_path
        ? config._name_or_path
        : "hf-mamba2",
      nodes: [
        embedding({
          vocab: f("vocab_size", isPosInt, "a positive integer", 32768),
          dim: hidden,
        }),
        repeat(f("num_hidden_layers", isPosInt, "a positive integer", 64), [
          residual({
            norm: rmsNorm(eps),
            mixer: mamba2({
              heads: config.num_heads === undefined
                ? 128
                : config.num_heads as number,
              headDim: config.head_dim as number | undefined ?? 64,
              groups: config.n_groups as number | undefined ?? 8,
              dState: config.state_size as number | undefined ?? 128,
              expand,
              dConv: config.conv_kernel as number | undefined ?? 4,
              chunkSize: config.chunk_size as number | undefined ?? 256,
              bias: f("use_bias", isBool, "a boolean", false),
              convBias: f("use_conv_bias", isBool, "a boolean", true),
              dtMin: config.time_step_min as number | undefined ?? 0.001,
              dtMax: config.time_step_max as number | undefined ?? 0.1,
              dtFloor: config.time_step_floor as number | undefined ?? 1e-4,
              dtLimit,
              norm,
              normEps: norm === "transformers" ? eps : 1e-5,
            }),
          }),
        ]),
        rmsNorm(eps),
        lmHead({
          tied: f("tie_word_embeddings", isBool, "a boolean", false),
        }),
      ],
    }, options.limits));
}

/**
 * The Falcon-Mamba architecture: the Mamba one `mambaArchitecture` reads
 * (every `MambaConfig` key) with `mixer_rms_eps` on each mixer.
 *
 * @param config the parsed config.json (`model_type: "falcon_mamba"`).
 * @param source file name for messages.
 * @param mambaArchitecture the Mamba reader of `hf_config.ts`.
 * @returns the validated architecture.
 * @throws Error naming the file and the key at fault.
 */
export function architectureFromFalconConfig(
  config: Json,
  source: string,
  mambaArchitecture: (config: Json) => Architecture,
): Architecture {
  const eps = field(
    config,
    "mixer_rms_eps",
    isPosNum,
    "a positive number",
    1e-6,
    source,
  );
  const arch = mambaArchitecture({
    ...config,
    model_type: "mamba",
    _name_or_path: config._name_or_path || "hf-falcon-mamba",
  });
  const withEps = (nodes: Architecture["nodes"]): Architecture["nodes"] =>
    nodes.map((node) => {
      if (node.kind === "residual" && node.mixer.kind === "mamba") {
        return { ...node, mixer: { ...node.mixer, bcdtRmsEps: eps } };
      }
      if (node.kind === "repeat") return { ...node, body: withEps(node.body) };
      return node;
    });
  return { ...arch, nodes: withEps(arch.nodes) };
}

/**
 * What `hfConfigFromArchitecture` writes for a Mamba-2 stack, or refuses.
 *
 * @param r the resolved architecture (its layers' mixers all `mamba2` and
 *   identical, norms checked by the caller).
 * @param base the fields the caller shares with every family (token ids,
 *   vocab, width, layers, eps, head tying).
 * @returns the config object.
 * @throws Error saying what transformers would read differently.
 */
export function mamba2HfConfig(r: ResolvedArchitecture, base: Json): Json {
  const m = r.layers[0].mixer as ResolvedMamba2;
  const eps = r.layers[0].norm.eps;
  const fail = (what: string) => {
    throw new Error(`saveModel: format "hf": ${what}`);
  };
  if (m.norm === "official" && m.groups > 1) {
    fail(
      `the mamba2 mixers' gated norm is "official" with groups ${m.groups} (each group of ${
        m.dInner / m.groups
      } channels normalised on its own); transformers 5.17 normalises the whole ${m.dInner} channels and would read this model differently. Save it in the native format, or set the mixers' norm to "transformers" if that is the model you mean`,
    );
  }
  if (m.normEps !== eps) {
    fail(
      `the mamba2 mixers' normEps ${m.normEps} differs from the layers' norm eps ${eps}; transformers uses one layer_norm_epsilon for both and would read this model differently`,
    );
  }
  const [lo, hi] = m.dtLimit;
  return {
    architectures: ["Mamba2ForCausalLM"],
    model_type: "mamba2",
    ...base,
    num_heads: m.headsValue,
    head_dim: m.headDim,
    n_groups: m.groups,
    state_size: m.dState,
    expand: m.expand,
    conv_kernel: m.dConv,
    chunk_size: m.chunkSize,
    use_bias: m.bias,
    use_conv_bias: m.convBias,
    hidden_act: "silu",
    initializer_range: 0.1,
    residual_in_fp32: true,
    rms_norm: true,
    time_step_rank: Math.ceil(r.dModel / 16),
    time_step_min: m.dtMin,
    time_step_max: m.dtMax,
    time_step_floor: m.dtFloor,
    // transformers' own spelling of infinity; a whole lo is marked as a
    // float for io.ts's config writer (transformers checks float fields).
    time_step_limit: [
      Number.isInteger(lo) ? `__float__${lo}` : lo,
      hi === null ? { __float__: "Infinity" } : hi,
    ],
    rescale_prenorm_residual: false,
    use_cache: true,
    dtype: "float32",
  };
}

/** Where each field comes from in an original state-spaces Mamba-2 config. */
const STATE_SPACES_MAMBA2_KEYS: ConfigKeys = {
  "nodes[0].vocab": "vocab_size",
  "nodes[0].dim": "d_model",
  "nodes[0].padVocabMultiple": "pad_vocab_size_multiple",
  "nodes[1].times": "n_layer",
  "nodes[1].body[0].mixer.headDim": "ssm_cfg.headdim",
  "nodes[1].body[0].mixer.groups": "ssm_cfg.ngroups",
  "nodes[1].body[0].mixer.dState": "ssm_cfg.d_state",
  "nodes[1].body[0].mixer.expand": "ssm_cfg.expand",
  "nodes[1].body[0].mixer.dConv": "ssm_cfg.d_conv",
  "nodes[1].body[0].mixer.chunkSize": "ssm_cfg.chunk_size",
  "nodes[1].body[0].mixer.bias": "ssm_cfg.bias",
  "nodes[1].body[0].mixer.convBias": "ssm_cfg.conv_bias",
  "nodes[1].body[0].mixer.dtMin": "ssm_cfg.dt_min",
  "nodes[1].body[0].mixer.dtMax": "ssm_cfg.dt_max",
  "nodes[1].body[0].mixer.dtFloor": "ssm_cfg.dt_init_floor",
  "nodes[3].tied": "tie_embeddings",
};

/**
 * The architecture of an original state-spaces Mamba-2 `config.json`
 * (`ssm_cfg.layer: "Mamba2"`, as state-spaces/mamba2-130m … 2.7b), read
 * with the official semantics (per-group gated norm, eps 1e-5). Defaults as
 * mamba_ssm's `Mamba2` and `MambaConfig`.
 *
 * @param config the parsed config.json.
 * @param source file name for messages.
 * @param limits size limits.
 * @returns the validated architecture.
 * @throws Error naming the key (`ssm_cfg.ngroups`, `d_intermediate`, …) of
 *   anything this project does not compute: an MLP after the mixer,
 *   attention layers, a separate d_ssm, D per channel, norm before gate.
 */
export function architectureFromStateSpacesMamba2(
  config: Json,
  source: string,
  limits?: SizeLimits,
): Architecture {
  const ssm = (config.ssm_cfg ?? {}) as Json;
  const refuse = (name: string, value: unknown, expected: string) => {
    throw new Error(
      `${source}: ${name}: expected ${expected}, received ${
        JSON.stringify(value)
      }`,
    );
  };
  if ((config.d_intermediate ?? 0) !== 0) {
    refuse(
      "d_intermediate",
      config.d_intermediate,
      "0 (an MLP after each mixer is not supported)",
    );
  }
  const attn = config.attn_layer_idx ?? [];
  if (!Array.isArray(attn) || attn.length > 0) {
    refuse("attn_layer_idx", attn, "[] (attention layers are not supported)");
  }
  if ((config.rms_norm ?? true) !== true) {
    refuse(
      "rms_norm",
      config.rms_norm,
      "true (LayerNorm blocks are not supported)",
    );
  }
  if ((ssm.rmsnorm ?? true) !== true) {
    refuse("ssm_cfg.rmsnorm", ssm.rmsnorm, "true (the gated RMSNorm)");
  }
  if ((ssm.norm_before_gate ?? false) !== false) {
    refuse("ssm_cfg.norm_before_gate", ssm.norm_before_gate, "false");
  }
  if ((ssm.D_has_hdim ?? false) !== false) {
    refuse("ssm_cfg.D_has_hdim", ssm.D_has_hdim, "false (D per head)");
  }
  const dModel = config.d_model as number;
  const expand = ssm.expand as number | undefined ?? 2;
  if (ssm.d_ssm !== undefined && ssm.d_ssm !== null) {
    if (ssm.d_ssm !== expand * dModel) {
      refuse(
        "ssm_cfg.d_ssm",
        ssm.d_ssm,
        `null or expand * d_model = ${expand * dModel}`,
      );
    }
  }
  const dtLimit = timeStepLimit(
    { time_step_limit: ssm.dt_limit },
    source,
    "ssm_cfg.dt_limit",
  );
  const num = <T>(name: string, fallback: T) =>
    (ssm[name] === undefined ? fallback : ssm[name]) as T;
  return buildFromConfig(
    source,
    config,
    STATE_SPACES_MAMBA2_KEYS,
    () =>
      architecture({
        name: "state-spaces-mamba2",
        nodes: [
          embedding({
            vocab: config.vocab_size as number,
            dim: dModel,
            padVocabMultiple: config.pad_vocab_size_multiple as
              | number
              | undefined ?? 8,
          }),
          repeat(config.n_layer as number, [
            residual({
              norm: rmsNorm(1e-5),
              mixer: mamba2({
                headDim: num("headdim", 64),
                groups: num("ngroups", 1),
                dState: num("d_state", 128),
                expand,
                dConv: num("d_conv", 4),
                chunkSize: num("chunk_size", 256),
                bias: num("bias", false),
                convBias: num("conv_bias", true),
                dtMin: num("dt_min", 0.001),
                dtMax: num("dt_max", 0.1),
                dtFloor: num("dt_init_floor", 1e-4),
                dtLimit,
                norm: "official",
                normEps: 1e-5,
              }),
            }),
          ]),
          rmsNorm(1e-5),
          lmHead({
            tied: config.tie_embeddings as boolean | undefined ?? true,
          }),
        ],
      }, limits),
  );
}
