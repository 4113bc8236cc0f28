/**
 * The size of an architecture — parameters, its largest activation, nodes
 * after repeats — computed from the node data alone (repeats multiply, they
 * are never expanded), and the limits `validateArchitecture` holds every
 * architecture to, so that an absurd size (`"num_hidden_layers": 1e9`,
 * `dState` 1e9, `repeat(1e9, …)`) is refused with the field at fault before
 * anything is allocated.
 *
 * The defaults fit a machine of 24 GiB: 4e9 parameters are 16 GB of float32,
 * leaving room for activations; 2^30 elements (4 GiB of float32) for one
 * activation of one sequence. The wasm backend holds at most 4 GiB in all
 * (about 1e9 parameters), whatever the limit says. Raise a limit with the
 * option of the same name (`validateArchitecture`, `buildModel`'s `limits`,
 * `loadModel`'s `limits`).
 *
 * Reference: the parameter shapes of Hugging Face `MambaForCausalLM`.
 *
 * @module
 */
import { paddedVocabOf } from "./_derived.ts";
import { type SizeContext, sizeOfNodes } from "./_node_sizes.ts";
import type { Architecture } from "./schema.ts";

/** Limits on the size of a model; every field is optional. */
export interface SizeLimits {
  /** Most parameters in all (default 4e9, 16 GB of float32). */
  maxParameters?: number;
  /**
   * Most elements of one activation or state for one sequence at batch 1:
   * of `seqLen` tokens when the architecture fixes it, else of one token
   * (default 2^30, 4 GiB of float32).
   */
  maxActivationElements?: number;
  /** Most nodes once repeats are expanded (default 100,000). */
  maxNodes?: number;
  /** Deepest nesting of `repeat` nodes (default 32). */
  maxDepth?: number;
}

/** The limits used where an option leaves one out. */
export const DEFAULT_SIZE_LIMITS: Readonly<Required<SizeLimits>> = {
  maxParameters: 4e9,
  maxActivationElements: 2 ** 30,
  maxNodes: 100_000,
  maxDepth: 32,
};

/**
 * No limit on parameters, activations or nodes (the depth keeps its
 * default): for work that allocates nothing, such as writing an
 * architecture that was built under raised limits.
 */
export const UNLIMITED_SIZES: Readonly<SizeLimits> = {
  maxParameters: Infinity,
  maxActivationElements: Infinity,
  maxNodes: Infinity,
};

/** The size of a whole architecture. */
export interface ArchitectureSizes {
  /** Trainable parameters (float32 elements), repeats counted. */
  parameters: number;
  /** Elements of the largest activation or state of one sequence, batch 1. */
  activationElements: number;
  /** Nodes once repeats are expanded (a repeat itself is not counted). */
  nodes: number;
}

/**
 * Sizes an architecture without building it or expanding its repeats.
 * @param arch a validated architecture (embedding first).
 * @returns parameters, largest activation and expanded node count.
 * @example
 * ```ts
 * import { architectureSizes } from "./sizes.ts";
 * import mamba130m from "../examples/mamba_130m.ts";
 * architectureSizes(mamba130m).parameters; // 129135360
 * ```
 * Reference: Hugging Face `MambaForCausalLM.num_parameters()`.
 */
export function architectureSizes(arch: Architecture): ArchitectureSizes {
  const first = arch.nodes[0];
  if (first?.kind !== "embedding") {
    throw new Error("architectureSizes: expected an embedding first");
  }
  const tokens = arch.seqLen ?? 1;
  const ctx: SizeContext = {
    dModel: first.dim,
    paddedVocab: paddedVocabOf(first),
    seqLen: arch.seqLen,
    tokens,
  };
  return sizeOfNodes(arch.nodes, ctx);
}
