/**
 * Builder functions for the architecture DSL, and the one place where an
 * architecture is validated (schema, then semantic rules) and serialized.
 *
 * Builders return plain, un-defaulted data (typed with `z.input`); nothing is
 * checked until {@linkcode architecture} / {@linkcode validateArchitecture},
 * so every error carries its full path (`nodes[1].body[0].mixer.dState`).
 *
 * Reference: mamba-minimal `ModelArgs`; HF `MambaConfig` defaults.
 *
 * @example
 * ```ts
 * import { architecture, embedding, lmHead, repeat, residual, rmsNorm } from "./builder.ts";
 * const arch = architecture({
 *   name: "tiny",
 *   nodes: [
 *     embedding({ vocab: 256, dim: 64 }),
 *     repeat(2, [residual()]),
 *     rmsNorm(),
 *     lmHead(),
 *   ],
 * });
 * ```
 *
 * @module
 */
import { checkRules } from "./_rules.ts";
import { checkDepth, checkSizes, fullLimits } from "./_size_rules.ts";
import { type SizeLimits, UNLIMITED_SIZES } from "./sizes.ts";
import { expectedPhrase, fromZodIssues } from "./_zod_issues.ts";
import { ArchitectureError } from "./errors.ts";
import {
  type Architecture,
  type ArchitectureInput,
  ArchitectureSchema,
  type ClassifierNodeInput,
  type Mamba2NodeInput,
  type MambaNodeInput,
  type MixerNodeInput,
  type NodeInput,
  type NormNodeInput,
} from "./schema.ts";

/** Options of {@linkcode embedding}. */
export interface EmbeddingOptions {
  /** Vocabulary size (token ids are in [0, vocab)). */
  vocab: number;
  /** Model width d. */
  dim: number;
  /** Round the embedding rows up to a multiple of this (default 1). */
  padVocabMultiple?: number;
}

/**
 * Token embedding node, (b, l) ids → (b, l, d).
 * @param options vocab, dim and optional padVocabMultiple.
 * @returns the embedding node as plain data.
 * @example
 * ```ts
 * import { embedding } from "./builder.ts";
 * embedding({ vocab: 50280, dim: 768, padVocabMultiple: 8 });
 * ```
 * Reference: HF `MambaModel.embeddings`.
 */
export function embedding(
  options: EmbeddingOptions,
): { kind: "embedding" } & EmbeddingOptions {
  return { kind: "embedding", ...plainData(options) };
}

/**
 * RMSNorm node (Zhang & Sennrich 2019), (b, l, d) → (b, l, d).
 * @param eps added to the mean square (default 1e-5).
 * @returns the norm node as plain data.
 * @example
 * ```ts
 * import { rmsNorm } from "./builder.ts";
 * rmsNorm(1e-6);
 * ```
 * Reference: HF `MambaRMSNorm`.
 */
export function rmsNorm(eps?: number): { kind: "rms_norm"; eps?: number } {
  return eps === undefined ? { kind: "rms_norm" } : { kind: "rms_norm", eps };
}

/**
 * LayerNorm node (Ba et al. 2016), (b, l, d) → (b, l, d).
 * @param eps added to the variance (default 1e-5).
 * @returns the norm node as plain data.
 * @example
 * ```ts
 * import { layerNorm } from "./builder.ts";
 * layerNorm(1e-5);
 * ```
 * Reference: `tf.keras.layers.LayerNormalization`.
 */
export function layerNorm(eps?: number): { kind: "layer_norm"; eps?: number } {
  return eps === undefined
    ? { kind: "layer_norm" }
    : { kind: "layer_norm", eps };
}

/** Options of {@linkcode mamba}: every mixer field, all optional. */
export type MambaOptions = Omit<MambaNodeInput, "kind">;

/**
 * Mamba mixer node (the selective SSM block), (b, l, d) → (b, l, d).
 * @param options mixer fields; defaults are those of HF `MambaConfig`.
 * @returns the mixer node as plain data.
 * @example
 * ```ts
 * import { mamba } from "./builder.ts";
 * mamba({ dState: 32 });
 * ```
 * Reference: Gu & Dao (2023) §3.4, Figure 3; HF `MambaMixer`.
 */
export function mamba(options: MambaOptions = {}): MambaNodeInput {
  return { kind: "mamba", ...plainData(options) };
}

/** Options of {@linkcode mamba2}: every Mamba-2 mixer field, all optional. */
export type Mamba2Options = Omit<Mamba2NodeInput, "kind">;

/**
 * Mamba-2 mixer node (the SSD block), (b, l, d) → (b, l, d): in_proj to
 * z | xBC | Δ, causal conv + SiLU over xBC, the SSD with one A per head
 * and B, C shared by each group of heads, y · SiLU(z) through a gated
 * RMSNorm, out_proj.
 * @param options mixer fields; defaults are those of HF `Mamba2Config`
 *   (headDim 64, groups 8, dState 128, chunkSize 256; heads "auto").
 * @returns the mixer node as plain data.
 * @example
 * ```ts
 * import { mamba2 } from "./builder.ts";
 * mamba2({ headDim: 16, groups: 1, dState: 16, chunkSize: 64 });
 * ```
 * Reference: Dao & Gu (2024) §7 (the Mamba-2 block); state-spaces/mamba
 * `modules/mamba2.py`; HF `Mamba2Mixer`.
 */
export function mamba2(options: Mamba2Options = {}): Mamba2NodeInput {
  return { kind: "mamba2", ...plainData(options) };
}

/** Options of {@linkcode residual}. */
export interface ResidualOptions {
  /** The pre-norm (default `rmsNorm()`). */
  norm?: NormNodeInput;
  /** The mixer, `mamba()` or `mamba2()` (default `mamba()`). */
  mixer?: MixerNodeInput;
}

/**
 * Residual block node: x + mixer(norm(x)), (b, l, d) → (b, l, d).
 * A left-out norm or mixer is left out of the data too: the schema fills
 * both (RMSNorm and `mamba()`), for builders and JSON alike.
 * @param options norm and mixer (defaults RMSNorm and `mamba()`).
 * @returns the residual node as plain data.
 * @example
 * ```ts
 * import { layerNorm, mamba, residual } from "./builder.ts";
 * residual({ norm: layerNorm(), mixer: mamba({ dState: 32 }) });
 * ```
 * Reference: HF `MambaBlock`.
 */
export function residual(
  options: ResidualOptions = {},
): { kind: "residual"; norm?: NormNodeInput; mixer?: MixerNodeInput } {
  return { kind: "residual", ...plainData(options) };
}

/**
 * Dropout node, active only in training.
 * @param rate drop probability in [0, 1).
 * @returns the dropout node as plain data.
 * @example
 * ```ts
 * import { dropout } from "./builder.ts";
 * dropout(0.2);
 * ```
 * Reference: Srivastava et al. (2014).
 */
export function dropout(rate: number): { kind: "dropout"; rate: number } {
  return { kind: "dropout", rate };
}

/**
 * Repeat node: `times` copies of `body`, each with its own weights.
 * @param times how many copies (≥ 1).
 * @param body the nodes of one copy (non-empty).
 * @returns the repeat node as plain data.
 * @example
 * ```ts
 * import { dropout, repeat, residual } from "./builder.ts";
 * repeat(12, [residual(), dropout(0.2)]);
 * ```
 * Reference: the `for i in range(n_layer)` loop of HF `MambaModel`.
 */
export function repeat(
  times: number,
  body: NodeInput[],
): { kind: "repeat"; times: number; body: NodeInput[] } {
  return { kind: "repeat", times, body };
}

/** Options of {@linkcode lmHead}. */
export interface LmHeadOptions {
  /** Share the embedding matrix (default true). */
  tied?: boolean;
}

/**
 * Language-model head, (b, l, d) → (b, l, v) logits.
 * @param options `tied` (default true).
 * @returns the head node as plain data.
 * @example
 * ```ts
 * import { lmHead } from "./builder.ts";
 * lmHead({ tied: false });
 * ```
 * Reference: HF `MambaForCausalLM.lm_head`.
 */
export function lmHead(
  options: LmHeadOptions = {},
): { kind: "lm_head"; tied?: boolean } {
  return { kind: "lm_head", ...plainData(options) };
}

/** Options of {@linkcode classifier}: every classifier field but `kind`. */
export type ClassifierOptions = Omit<ClassifierNodeInput, "kind">;

/**
 * Classifier head, (b, l, d) → pooled → optional hidden dense → (b, c).
 * @param options pooling, hidden, classes, activation.
 * @returns the head node as plain data.
 * @example
 * ```ts
 * import { classifier } from "./builder.ts";
 * classifier({ pooling: "mean", classes: 1, activation: "sigmoid" });
 * ```
 * Reference: Keras `Flatten`/`GlobalAveragePooling1D` + `Dense` heads.
 */
export function classifier(options: ClassifierOptions): ClassifierNodeInput {
  return { kind: "classifier", ...plainData(options) };
}

/**
 * Validates an architecture and fills every default: the schema first, then
 * the semantic rules. Fails once, with every issue found.
 * @param spec name, optional seqLen, nodes.
 * @param limits size limits (see {@linkcode validateArchitecture}).
 * @returns the validated architecture (plain data).
 * @throws {ArchitectureError} when anything is wrong.
 * @example
 * ```ts
 * import { architecture, classifier, embedding, repeat, residual } from "./builder.ts";
 * const arch = architecture({
 *   name: "spam",
 *   seqLen: 256,
 *   nodes: [
 *     embedding({ vocab: 256, dim: 64 }),
 *     repeat(2, [residual()]),
 *     classifier({ pooling: "mean", classes: 1, activation: "sigmoid" }),
 *   ],
 * });
 * ```
 * Reference: STYLE.md §5, "fail at the boundary, once".
 */
export function architecture(
  spec: ArchitectureInput,
  limits: SizeLimits = {},
): Architecture {
  return validateArchitecture(spec, limits);
}

/**
 * Validates any value as an architecture: the nesting depth, the schema,
 * the semantic rules, then the size limits (parameters, largest
 * activation, nodes after repeats; see `sizes.ts`), all before anything is
 * allocated.
 * @param value e.g. parsed JSON.
 * @param limits size limits; each left out takes its default
 *   (`DEFAULT_SIZE_LIMITS`).
 * @returns the validated architecture, every default filled in.
 * @throws {ArchitectureError} listing every issue with its path.
 * @example
 * ```ts
 * import { validateArchitecture } from "./builder.ts";
 * try {
 *   validateArchitecture({ name: "x", nodes: [{ kind: "conv" }] });
 * } catch (e) {
 *   console.log(String(e)); // ... nodes[0].kind: expected one of "embedding", ...
 * }
 * ```
 * Reference: zod 4 `safeParse`.
 */
export function validateArchitecture(
  value: unknown,
  limits: SizeLimits = {},
): Architecture {
  const max = fullLimits(limits);
  const tooDeep = checkDepth(value, max.maxDepth);
  if (tooDeep.length > 0) throw new ArchitectureError(tooDeep);
  const parsed = ArchitectureSchema.safeParse(value, {
    reportInput: true,
    error: expectedPhrase,
  });
  if (!parsed.success) {
    throw new ArchitectureError(fromZodIssues(parsed.error.issues, value));
  }
  const arch = plainData(parsed.data);
  const issues = checkRules(arch);
  if (issues.length > 0) throw new ArchitectureError(issues);
  const tooBig = checkSizes(arch, max);
  if (tooBig.length > 0) throw new ArchitectureError(tooBig);
  return arch;
}

/**
 * Serializes an architecture: validated, defaults filled, keys in schema
 * order, two-space indent, trailing newline. Writing allocates nothing, so
 * the size limits are not applied here (the nesting depth still is).
 * @param arch the architecture (re-validated here).
 * @returns the JSON text.
 * @example
 * ```ts
 * import { architecture, embedding, lmHead, residual, toJSON } from "./builder.ts";
 * const text = toJSON(architecture({
 *   name: "x",
 *   nodes: [embedding({ vocab: 256, dim: 16 }), residual(), lmHead()],
 * }));
 * ```
 * Reference: `JSON.stringify`.
 */
export function toJSON(arch: Architecture | ArchitectureInput): string {
  return JSON.stringify(validateArchitecture(arch, UNLIMITED_SIZES), null, 2) +
    "\n";
}

/**
 * Reads an architecture from JSON text or an already-parsed object.
 * @param text JSON text, or the parsed value.
 * @param limits size limits (see {@linkcode validateArchitecture}).
 * @returns the validated architecture.
 * @throws {ArchitectureError} for invalid JSON or an invalid architecture.
 * @example
 * ```ts
 * import { fromJSON } from "./builder.ts";
 * const arch = fromJSON(await Deno.readTextFile("examples/byte_lm.json"));
 * ```
 * Reference: `JSON.parse`.
 */
export function fromJSON(
  text: string | object,
  limits: SizeLimits = {},
): Architecture {
  if (typeof text !== "string") return validateArchitecture(text, limits);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ArchitectureError([
      ArchitectureError.issueText(
        [],
        "valid JSON",
        `text that does not parse (${(e as Error).message})`,
      ),
    ]);
  }
  return validateArchitecture(value, limits);
}

/** A copy without `undefined`-valued keys, so the result is plain JSON data. */
function plainData<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plainData) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = plainData(v);
    }
    return out as T;
  }
  return value;
}
