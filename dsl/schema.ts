/**
 * The architecture DSL: one zod schema per node kind, nodes as plain data in a
 * discriminated union on `kind`. Static types come only from `z.infer` /
 * `z.input`. Cross-node rules (embedding first, head last, dtRank ≤ dInner, …)
 * live in `_rules.ts`; derived values (dInner, numeric dtRank, padded vocab)
 * live in `resolve.ts`. Nothing here knows about tensors.
 *
 * Every leaf schema carries the phrase that completes "expected …" as its
 * error, so a failed parse reads `nodes[3].mixer.dState: expected a positive
 * integer, received -4`.
 *
 * Reference: Gu & Dao, "Mamba" (2023) §3.4 and Hugging Face `MambaConfig`
 * (`transformers/models/mamba/configuration_mamba.py`) for the names and
 * defaults of the mixer fields.
 *
 * @module
 */
import { z } from "zod";

// ---------------------------------------------------------------- leaves

const POSITIVE_INTEGER = "a positive integer";
const POSITIVE_NUMBER = "a positive number";
const DT_RANK = `"auto" or ${POSITIVE_INTEGER}`;

/** A positive integer, with the readable error phrase. */
function posInt(phrase = POSITIVE_INTEGER) {
  return z.int({ error: phrase }).min(1, { error: phrase });
}

/** A finite positive number, with the readable error phrase. */
function posNumber() {
  return z.number({ error: POSITIVE_NUMBER }).positive({
    error: POSITIVE_NUMBER,
  });
}

/** `true` or `false`, with the readable error phrase. */
function bool() {
  return z.boolean({ error: "true or false" });
}

/** `one of "a", "b"`: the phrase for an enum. */
function oneOfPhrase(values: readonly string[]): string {
  return `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

/** A string enum, with the readable error phrase. */
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: oneOfPhrase(values) });
}

/** The `kind` tag of a node. */
function kindTag<const K extends string>(kind: K) {
  return z.literal(kind, { error: JSON.stringify(kind) });
}

// ---------------------------------------------------------------- nodes

/**
 * Token embedding, always the first node. `padVocabMultiple` rounds the
 * embedding (and a tied LM head) up to a multiple, as HF `pad_vocab_size_multiple`.
 */
export const EmbeddingNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"embedding">;
  vocab: z.ZodInt;
  dim: z.ZodInt;
  padVocabMultiple: z.ZodDefault<z.ZodInt>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("embedding"),
  vocab: posInt(),
  dim: posInt(),
  padVocabMultiple: posInt().default(1),
});

/** RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x²) + eps) · w. */
export const RmsNormNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"rms_norm">;
  eps: z.ZodDefault<z.ZodNumber>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("rms_norm"),
  eps: posNumber().default(1e-5),
});

/** LayerNorm (Ba et al. 2016): (x − mean) / sqrt(var + eps) · w + b. */
export const LayerNormNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"layer_norm">;
  eps: z.ZodDefault<z.ZodNumber>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("layer_norm"),
  eps: posNumber().default(1e-5),
});

/** Either norm: used inside a residual block and as the final norm. */
export const NormNodeSchema: z.ZodDiscriminatedUnion<[
  typeof RmsNormNodeSchema,
  typeof LayerNormNodeSchema,
]> = z.discriminatedUnion("kind", [
  RmsNormNodeSchema,
  LayerNormNodeSchema,
]);

/** The scan implementations a mixer may ask for (see `kernels/scan_types.ts`). */
export const SCAN_IMPLS: readonly [
  "auto",
  "chunked",
  "seed",
  "reference",
  "webgpu",
] = [
  "auto",
  "chunked",
  "seed",
  "reference",
  "webgpu",
] as const;

/**
 * The Mamba mixer (selective SSM block). Field names follow HF `MambaConfig`:
 * dState = state_size, expand, dConv = conv_kernel, dtRank = time_step_rank,
 * bias = use_bias (in_proj and out_proj), convBias = use_conv_bias,
 * dtMin/dtMax/dtFloor/dtScale/dtInit = time_step_min/max/floor/scale/init_scheme.
 * `bcdtRmsEps` makes it Falcon-Mamba (HF `FalconMambaConfig.mixer_rms_eps`):
 * RMS norms without weights on B, C and the time step's input (after
 * x_proj, before dt_proj); absent, the plain Mamba mixer.
 */
export const MambaNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"mamba">;
  dState: z.ZodDefault<z.ZodInt>;
  expand: z.ZodDefault<z.ZodInt>;
  dConv: z.ZodDefault<z.ZodInt>;
  dtRank: z.ZodDefault<z.ZodUnion<readonly [z.ZodLiteral<"auto">, z.ZodInt]>>;
  bias: z.ZodDefault<z.ZodBoolean>;
  convBias: z.ZodDefault<z.ZodBoolean>;
  dtMin: z.ZodDefault<z.ZodNumber>;
  dtMax: z.ZodDefault<z.ZodNumber>;
  dtFloor: z.ZodDefault<z.ZodNumber>;
  dtScale: z.ZodDefault<z.ZodNumber>;
  dtInit: z.ZodDefault<z.ZodEnum<{ random: "random"; constant: "constant" }>>;
  scan: z.ZodDefault<
    z.ZodEnum<{ [K in (typeof SCAN_IMPLS)[number]]: K }>
  >;
  bcdtRmsEps: z.ZodOptional<z.ZodNumber>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("mamba"),
  dState: posInt().default(16),
  expand: posInt().default(2),
  dConv: posInt().default(4),
  dtRank: z.union([
    z.literal("auto", { error: DT_RANK }),
    posInt(DT_RANK),
  ], { error: DT_RANK }).default("auto"),
  bias: bool().default(false),
  convBias: bool().default(true),
  dtMin: posNumber().default(0.001),
  dtMax: posNumber().default(0.1),
  dtFloor: posNumber().default(1e-4),
  dtScale: posNumber().default(1.0),
  dtInit: oneOf(["random", "constant"]).default("random"),
  scan: oneOf(SCAN_IMPLS).default("auto"),
  bcdtRmsEps: posNumber().optional(),
});

/** The gated RMSNorm semantics a `mamba2` mixer may follow (see its schema). */
export const MAMBA2_NORMS: readonly ["official", "transformers"] = [
  "official",
  "transformers",
] as const;

/**
 * The Mamba-2 mixer (SSD block). Field names follow HF `Mamba2Config`, with
 * its defaults: heads = num_heads ("auto" = expand · dim / headDim, the
 * official `nheads`; HF's default 128 is that at hidden_size 4096), headDim
 * = head_dim, groups = n_groups, dState = state_size, expand, dConv =
 * conv_kernel, chunkSize = chunk_size, bias = use_bias, convBias =
 * use_conv_bias, dtMin/dtMax/dtFloor = time_step_min/max/floor (the dt_bias
 * initialisation), dtLimit = time_step_limit ([lo, hi]; hi null = no upper
 * limit, HF's infinity). The limit clamps Δ in the parallel forward only,
 * not in the one-token step, as both the official `Mamba2.step` and HF's
 * decode do.
 *
 * `norm` picks the gated RMSNorm before out_proj (y · SiLU(z), then RMS):
 * `"official"` (state-spaces/mamba `Mamba2`) normalises each of the
 * `groups` groups of dIn / groups channels with eps 1e-5; `"transformers"`
 * (transformers 5.17's torch path) normalises the whole dIn with `normEps`
 * (HF's `layer_norm_epsilon`). They agree when groups is 1 and normEps 1e-5.
 */
export const Mamba2NodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"mamba2">;
  heads: z.ZodDefault<z.ZodUnion<readonly [z.ZodLiteral<"auto">, z.ZodInt]>>;
  headDim: z.ZodDefault<z.ZodInt>;
  groups: z.ZodDefault<z.ZodInt>;
  dState: z.ZodDefault<z.ZodInt>;
  expand: z.ZodDefault<z.ZodInt>;
  dConv: z.ZodDefault<z.ZodInt>;
  chunkSize: z.ZodDefault<z.ZodInt>;
  bias: z.ZodDefault<z.ZodBoolean>;
  convBias: z.ZodDefault<z.ZodBoolean>;
  dtMin: z.ZodDefault<z.ZodNumber>;
  dtMax: z.ZodDefault<z.ZodNumber>;
  dtFloor: z.ZodDefault<z.ZodNumber>;
  dtLimit: z.ZodDefault<
    z.ZodTuple<[z.ZodNumber, z.ZodNullable<z.ZodNumber>], null>
  >;
  norm: z.ZodDefault<
    z.ZodEnum<{ official: "official"; transformers: "transformers" }>
  >;
  normEps: z.ZodDefault<z.ZodNumber>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("mamba2"),
  heads: z.union([
    z.literal("auto", { error: `"auto" or ${POSITIVE_INTEGER}` }),
    posInt(`"auto" or ${POSITIVE_INTEGER}`),
  ], { error: `"auto" or ${POSITIVE_INTEGER}` }).default("auto"),
  headDim: posInt().default(64),
  groups: posInt().default(8),
  dState: posInt().default(128),
  expand: posInt().default(2),
  dConv: posInt().default(4),
  chunkSize: posInt().default(256),
  bias: bool().default(false),
  convBias: bool().default(true),
  dtMin: posNumber().default(0.001),
  dtMax: posNumber().default(0.1),
  dtFloor: posNumber().default(1e-4),
  dtLimit: z.tuple([
    z.number({ error: "a number >= 0" }).min(0, { error: "a number >= 0" }),
    posNumber().nullable(),
  ], { error: "[lo, hi] with 0 <= lo and hi a positive number or null" })
    .default([0, null]),
  norm: oneOf(MAMBA2_NORMS).default("official"),
  normEps: posNumber().default(1e-5),
});

/** Either mixer kind a residual block may hold, discriminated on `kind`. */
export const MixerNodeSchema: z.ZodDiscriminatedUnion<[
  typeof MambaNodeSchema,
  typeof Mamba2NodeSchema,
]> = z.discriminatedUnion("kind", [MambaNodeSchema, Mamba2NodeSchema], {
  error: 'a mixer of kind "mamba" or "mamba2"',
});

/**
 * Pre-norm residual block: x + mixer(norm(x)). `norm` defaults to an RMSNorm
 * and `mixer` to a Mamba mixer, each with its own defaults: the one place
 * these defaults live, for the builders and the JSON form alike.
 */
export const ResidualNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"residual">;
  norm: z.ZodPrefault<typeof NormNodeSchema>;
  mixer: z.ZodPrefault<typeof MixerNodeSchema>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("residual"),
  // prefault, not default: the default is parsed, so its own defaults fill in.
  norm: NormNodeSchema.prefault({ kind: "rms_norm" }),
  mixer: MixerNodeSchema.prefault({ kind: "mamba" }),
});

/** Dropout with rate in [0, 1); active only in training. */
export const DropoutNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"dropout">;
  rate: z.ZodNumber;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("dropout"),
  rate: z.number({ error: "a number in [0, 1)" })
    .min(0, { error: "a number in [0, 1)" })
    .lt(1, { error: "a number in [0, 1)" }),
});

/** Language-model head; `tied` shares the embedding matrix (HF tie_word_embeddings). */
export const LmHeadNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"lm_head">;
  tied: z.ZodDefault<z.ZodBoolean>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("lm_head"),
  tied: bool().default(true),
});

/** The optional hidden dense layer of a classifier. */
export const ClassifierHiddenSchema: z.ZodObject<{
  units: z.ZodInt;
  activation: z.ZodDefault<
    z.ZodEnum<
      { gelu: "gelu"; relu: "relu"; silu: "silu"; tanh: "tanh"; none: "none" }
    >
  >;
}, z.core.$strict> = z.strictObject({
  units: posInt(),
  activation: oneOf(["gelu", "relu", "silu", "tanh", "none"]).default("gelu"),
}, { error: "an object {units, activation?}" });

/**
 * Sequence classifier head: pool over length ("last" token, "mean", or
 * "flatten" to (b, l·d), which needs a fixed seqLen), optional hidden dense,
 * then a dense to `classes` with the output activation.
 */
export const ClassifierNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"classifier">;
  pooling: z.ZodEnum<{ last: "last"; mean: "mean"; flatten: "flatten" }>;
  hidden: z.ZodOptional<typeof ClassifierHiddenSchema>;
  classes: z.ZodInt;
  activation: z.ZodEnum<
    { sigmoid: "sigmoid"; softmax: "softmax"; none: "none" }
  >;
  labels: z.ZodOptional<z.ZodArray<z.ZodString>>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("classifier"),
  pooling: oneOf(["last", "mean", "flatten"]),
  hidden: ClassifierHiddenSchema.optional(),
  classes: posInt(),
  activation: oneOf(["sigmoid", "softmax", "none"]),
  /** Class names by index (one per class; two for one sigmoid output: [class 0, class 1]). */
  labels: z.array(z.string().min(1), { error: "an array of class names" })
    .optional(),
});

/** `times` copies of `body` in a row; each copy has its own weights. */
export const RepeatNodeSchema: z.ZodObject<{
  kind: z.ZodLiteral<"repeat">;
  times: z.ZodInt;
  readonly body: z.ZodArray<typeof NodeSchema>;
}, z.core.$strict> = z.strictObject({
  kind: kindTag("repeat"),
  times: posInt(),
  get body(): z.ZodArray<typeof NodeSchema> {
    return z.array(NodeSchema, { error: "a non-empty array of nodes" })
      .min(1, { error: "a non-empty array of nodes" });
  },
});

/** Any node, discriminated on `kind`. */
export const NodeSchema: z.ZodDiscriminatedUnion<[
  typeof EmbeddingNodeSchema,
  typeof RmsNormNodeSchema,
  typeof LayerNormNodeSchema,
  typeof MambaNodeSchema,
  typeof Mamba2NodeSchema,
  typeof ResidualNodeSchema,
  typeof DropoutNodeSchema,
  typeof RepeatNodeSchema,
  typeof LmHeadNodeSchema,
  typeof ClassifierNodeSchema,
]> = z.discriminatedUnion("kind", [
  EmbeddingNodeSchema,
  RmsNormNodeSchema,
  LayerNormNodeSchema,
  MambaNodeSchema,
  Mamba2NodeSchema,
  ResidualNodeSchema,
  DropoutNodeSchema,
  RepeatNodeSchema,
  LmHeadNodeSchema,
  ClassifierNodeSchema,
]);

/** The schema of each node kind, by kind. */
export const NODE_SCHEMAS: {
  readonly embedding: typeof EmbeddingNodeSchema;
  readonly rms_norm: typeof RmsNormNodeSchema;
  readonly layer_norm: typeof LayerNormNodeSchema;
  readonly mamba: typeof MambaNodeSchema;
  readonly mamba2: typeof Mamba2NodeSchema;
  readonly residual: typeof ResidualNodeSchema;
  readonly dropout: typeof DropoutNodeSchema;
  readonly repeat: typeof RepeatNodeSchema;
  readonly lm_head: typeof LmHeadNodeSchema;
  readonly classifier: typeof ClassifierNodeSchema;
} = {
  embedding: EmbeddingNodeSchema,
  rms_norm: RmsNormNodeSchema,
  layer_norm: LayerNormNodeSchema,
  mamba: MambaNodeSchema,
  mamba2: Mamba2NodeSchema,
  residual: ResidualNodeSchema,
  dropout: DropoutNodeSchema,
  repeat: RepeatNodeSchema,
  lm_head: LmHeadNodeSchema,
  classifier: ClassifierNodeSchema,
} as const;

/** Every node kind, in the order the schema lists them. */
export const NODE_KINDS: readonly NodeKind[] = Object.keys(
  NODE_SCHEMAS,
) as NodeKind[];

/** A whole model: a name, an optional fixed sequence length, and its nodes. */
export const ArchitectureSchema: z.ZodObject<{
  name: z.ZodString;
  seqLen: z.ZodOptional<z.ZodInt>;
  nodes: z.ZodArray<typeof NodeSchema>;
}, z.core.$strict> = z.strictObject({
  name: z.string({ error: "a non-empty string" })
    .min(1, { error: "a non-empty string" }),
  seqLen: posInt().optional(),
  nodes: z.array(NodeSchema, { error: "an array of nodes" }),
});

// ---------------------------------------------------------------- types

/** A validated architecture, every default filled in. */
export type Architecture = z.infer<typeof ArchitectureSchema>;
/** What {@linkcode ArchitectureSchema} accepts: defaults may be left out. */
export type ArchitectureInput = z.input<typeof ArchitectureSchema>;
/** Any validated node. */
export type Node = z.infer<typeof NodeSchema>;
/** Any node as written, defaults left out. */
export type NodeInput = z.input<typeof NodeSchema>;
/** A node's kind tag. */
export type NodeKind = Node["kind"];
/** A validated embedding node. */
export type EmbeddingNode = z.infer<typeof EmbeddingNodeSchema>;
/** A validated RMSNorm node. */
export type RmsNormNode = z.infer<typeof RmsNormNodeSchema>;
/** A validated LayerNorm node. */
export type LayerNormNode = z.infer<typeof LayerNormNodeSchema>;
/** A validated norm node (RMSNorm or LayerNorm). */
export type NormNode = z.infer<typeof NormNodeSchema>;
/** A norm node as written. */
export type NormNodeInput = z.input<typeof NormNodeSchema>;
/** A validated Mamba mixer node. */
export type MambaNode = z.infer<typeof MambaNodeSchema>;
/** A Mamba mixer node as written. */
export type MambaNodeInput = z.input<typeof MambaNodeSchema>;
/** A validated Mamba-2 mixer node. */
export type Mamba2Node = z.infer<typeof Mamba2NodeSchema>;
/** A Mamba-2 mixer node as written. */
export type Mamba2NodeInput = z.input<typeof Mamba2NodeSchema>;
/** Either validated mixer node. */
export type MixerNode = MambaNode | Mamba2Node;
/** Either mixer node as written. */
export type MixerNodeInput = MambaNodeInput | Mamba2NodeInput;
/** A validated residual block. */
export type ResidualNode = z.infer<typeof ResidualNodeSchema>;
/** A validated dropout node. */
export type DropoutNode = z.infer<typeof DropoutNodeSchema>;
/** A validated repeat node. */
export type RepeatNode = z.infer<typeof RepeatNodeSchema>;
/** A validated LM head. */
export type LmHeadNode = z.infer<typeof LmHeadNodeSchema>;
/** A validated classifier head. */
export type ClassifierNode = z.infer<typeof ClassifierNodeSchema>;
/** A classifier head as written. */
export type ClassifierNodeInput = z.input<typeof ClassifierNodeSchema>;
/** Any head node. */
export type HeadNode = LmHeadNode | ClassifierNode;
