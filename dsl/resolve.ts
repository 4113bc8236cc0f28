/**
 * Derived values of an architecture, computed in ONE place: model width,
 * padded vocabulary, per-layer dInner and numeric dtRank, and the flat
 * execution plan with repeats expanded. The model compiler walks `plan`.
 *
 * Layer indices count residual blocks in order through repeats; they are the
 * `i` of the Hugging Face parameter names `backbone.layers.{i}.…`.
 *
 * Reference: mamba-minimal `ModelArgs.__post_init__` (d_inner, dt_rank
 * "auto" = ceil(d_model / 16), vocab padding); HF `MambaConfig`.
 *
 * @module
 */
import { validateArchitecture } from "./builder.ts";
import {
  dInnerOf,
  dtRankOf as derivedDtRank,
  headsOf,
  paddedVocabOf,
} from "./_derived.ts";
import type { SizeLimits } from "./sizes.ts";
import type {
  Architecture,
  ClassifierNode,
  HeadNode,
  Mamba2Node,
  MambaNode,
  MixerNode,
  Node,
  NormNode,
} from "./schema.ts";

/** A Mamba-1 (or Falcon-Mamba) mixer with its derived sizes. */
export type ResolvedMamba = MambaNode & {
  /** Inner width dIn = expand · dModel. */
  dInner: number;
  /** dtRank as a number ("auto" = ceil(dModel / 16)). */
  dtRankValue: number;
};

/** A Mamba-2 mixer with its derived sizes. */
export type ResolvedMamba2 = Mamba2Node & {
  /** Inner width dIn = expand · dModel = heads · headDim. */
  dInner: number;
  /** heads as a number ("auto" = dIn / headDim). */
  headsValue: number;
  /** Channels of the conv: x, B and C, dIn + 2 · groups · dState. */
  convDim: number;
};

/** A mixer with its derived sizes. */
export type ResolvedMixer = ResolvedMamba | ResolvedMamba2;

/** One residual block of the expanded model. */
export interface ResolvedLayer {
  /** Position among residual blocks: `backbone.layers.{index}`. */
  index: number;
  /** The block's pre-norm. */
  norm: NormNode;
  /** The block's mixer with derived sizes. */
  mixer: ResolvedMixer;
}

/** One step of the flat execution plan. */
export type PlanStep =
  | { kind: "embedding" }
  | { kind: "residual"; layer: number }
  | { kind: "dropout"; rate: number }
  | { kind: "norm"; norm: NormNode }
  | { kind: "lm_head"; tied: boolean }
  | ClassifierNode;

/** Everything the compiler needs, derived once. */
export interface ResolvedArchitecture {
  /** Model width d (the embedding dim). */
  dModel: number;
  /** Vocabulary size as given. */
  vocab: number;
  /** vocab rounded up to a multiple of padVocabMultiple (embedding rows). */
  paddedVocab: number;
  /** The fixed sequence length, when the architecture has one. */
  seqLen?: number;
  /** Residual blocks in execution order, repeats expanded. */
  layers: ResolvedLayer[];
  /** The whole model as a flat list of steps, repeats expanded. */
  plan: PlanStep[];
  /** The head node (the last node). */
  head: HeadNode;
}

/**
 * Computes the derived values.
 * @param arch an architecture (re-validated here, so hand-built data is safe).
 * @param limits size limits of the re-validation (see `sizes.ts`); raise
 *   them for a model larger than the defaults allow.
 * @returns dModel, vocab, paddedVocab, seqLen, layers, plan, head.
 * @throws {ArchitectureError} when `arch` is not a valid architecture.
 * @example
 * ```ts
 * import { resolveArchitecture } from "./resolve.ts";
 * import mamba130m from "../examples/mamba_130m.ts";
 * const r = resolveArchitecture(mamba130m);
 * r.layers.length; // 24
 * r.layers[0].mixer.dtRankValue; // 48
 * ```
 * Reference: mamba-minimal `ModelArgs.__post_init__`.
 */
export function resolveArchitecture(
  arch: Architecture,
  limits: SizeLimits = {},
): ResolvedArchitecture {
  const valid = validateArchitecture(arch, limits);
  const first = valid.nodes[0];
  const last = valid.nodes[valid.nodes.length - 1];
  // The rules guarantee both; the checks narrow the types.
  if (first.kind !== "embedding") throw new Error("unreachable: embedding");
  if (last.kind !== "lm_head" && last.kind !== "classifier") {
    throw new Error("unreachable: head");
  }
  const dModel = first.dim;
  const layers: ResolvedLayer[] = [];
  const plan: PlanStep[] = [];
  const visit = (nodes: readonly Node[]): void => {
    for (const node of nodes) {
      switch (node.kind) {
        case "embedding":
          plan.push({ kind: "embedding" });
          break;
        case "residual": {
          const index = layers.length;
          layers.push({
            index,
            norm: { ...node.norm },
            mixer: resolveMixer(node.mixer, dModel),
          });
          plan.push({ kind: "residual", layer: index });
          break;
        }
        case "dropout":
          plan.push({ kind: "dropout", rate: node.rate });
          break;
        case "rms_norm":
        case "layer_norm":
          plan.push({ kind: "norm", norm: { ...node } });
          break;
        case "repeat":
          for (let t = 0; t < node.times; t++) visit(node.body);
          break;
        case "lm_head":
          plan.push({ kind: "lm_head", tied: node.tied });
          break;
        case "classifier":
          plan.push(structuredClone(node));
          break;
        case "mamba":
        case "mamba2":
          // Rejected by the rules: a mixer only stands inside a residual.
          throw new Error(`unreachable: bare ${node.kind} node`);
      }
    }
  };
  visit(valid.nodes);
  return {
    dModel,
    vocab: first.vocab,
    paddedVocab: paddedVocabOf(first),
    ...(valid.seqLen === undefined ? {} : { seqLen: valid.seqLen }),
    layers,
    plan,
    head: structuredClone(last),
  };
}

/**
 * Numeric dtRank of a mixer.
 * @param mixer the mixer node.
 * @param dModel model width d.
 * @returns dtRank, with "auto" = ceil(dModel / 16).
 * @example
 * ```ts
 * import { dtRankOf } from "./resolve.ts";
 * import { mamba } from "./builder.ts";
 * import { MambaNodeSchema } from "./schema.ts";
 * dtRankOf(MambaNodeSchema.parse(mamba()), 768); // 48
 * ```
 * Reference: HF `MambaConfig.time_step_rank`.
 */
export function dtRankOf(mixer: MambaNode, dModel: number): number {
  return derivedDtRank(mixer, dModel);
}

/** The mixer with its derived sizes. */
function resolveMixer(mixer: MixerNode, dModel: number): ResolvedMixer {
  if (mixer.kind === "mamba2") {
    return {
      ...mixer,
      dInner: dInnerOf(mixer, dModel),
      headsValue: headsOf(mixer, dModel),
      convDim: dInnerOf(mixer, dModel) + 2 * mixer.groups * mixer.dState,
    };
  }
  return {
    ...mixer,
    dInner: dInnerOf(mixer, dModel),
    dtRankValue: derivedDtRank(mixer, dModel),
  };
}
