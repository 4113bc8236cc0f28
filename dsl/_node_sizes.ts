/**
 * Private: the size of each node kind — its parameter count and its largest
 * activation for one sequence at batch 1 — as arithmetic over the node's
 * fields, so that an architecture's size is known before anything is
 * allocated. One entry per node kind (and per mixer kind); a new kind adds
 * its entry here, and `sizes_test.ts` checks every entry against the
 * parameters `buildModel` really makes.
 *
 * Glossary: `d` model width, `v` padded vocab, `l` tokens of one sequence
 * (the fixed seqLen, or 1), `dIn` inner width, `n` state size, `r` dt rank,
 * `k` conv width, `c` classes, `u` hidden units.
 *
 * Reference: the parameter shapes of Hugging Face `MambaForCausalLM`
 * (`models/init.ts` makes them); state-spaces/mamba `mamba_simple.py`.
 *
 * @module
 */
import { dInnerOf, dtRankOf, headsOf } from "./_derived.ts";
import type { Mamba2Node, MambaNode, Node, NodeKind } from "./schema.ts";
import type { ArchitectureSizes } from "./sizes.ts";

/** What a node's size depends on beyond its own fields. */
export interface SizeContext {
  /** Model width d (the embedding's dim). */
  dModel: number;
  /** Embedding rows v (vocab rounded up to padVocabMultiple). */
  paddedVocab: number;
  /** The architecture's fixed sequence length, if any. */
  seqLen: number | undefined;
  /** Tokens of one sequence: seqLen, or 1 when the length is not fixed. */
  tokens: number;
}

/** The size of one node (one copy, repeats not counted). */
export interface NodeSize {
  /** Trainable parameters (float32 elements). */
  parameters: number;
  /** Elements of the node's largest activation or state, one sequence. */
  activation: number;
}

/** How to size one kind: the arithmetic and the fields it reads. */
export interface Sizer<N> {
  /**
   * @param node the node (validated).
   * @param ctx model width, vocab, tokens.
   * @returns its parameters and largest activation.
   */
  size(node: N, ctx: SizeContext): NodeSize;
  /**
   * The numeric fields a size limit may blame, as paths inside the node
   * (`["mixer", "dState"]`), each with a typical value (its default, or the
   * Mamba-130m figure); see `_size_rules.ts`.
   * @param node the node.
   * @returns field paths with typical values.
   */
  fields(node: N): SizeField[];
}

/** A numeric field that sizes a node, with a typical value for it. */
export interface SizeField {
  /** Path inside the node (or the architecture, for global fields). */
  path: PropertyKey[];
  /** A usual value: the schema default, or Mamba-130m's. */
  typical: number;
}

/** Mixer kinds a residual block may hold, by kind. */
export const MIXER_SIZES: {
  readonly mamba: Sizer<MambaNode>;
  readonly mamba2: Sizer<Mamba2Node>;
} = {
  mamba: {
    // in_proj (2dIn, d), conv1d (dIn, 1, k) [+ bias dIn], x_proj (r+2n, dIn),
    // dt_proj (dIn, r) + bias dIn, A_log (dIn, n), D (dIn), out_proj (d, dIn)
    // [+ in_proj bias 2dIn, out_proj bias d].
    size(m, { dModel: d, tokens: l }) {
      const dIn = dInnerOf(m, d), r = dtRankOf(m, d), n = m.dState;
      const k = m.dConv;
      const parameters = dIn * (2 * d + k + (r + 2 * n) + r + 1 + n + 1 + d) +
        (m.convBias ? dIn : 0) + (m.bias ? 2 * dIn + d : 0);
      // (l, 2dIn) in_proj output, (l, r+2n) x_proj output, the (dIn, n)
      // scan state and the (k, dIn) conv window of the recurrent step.
      const activation = Math.max(
        l * 2 * dIn,
        l * (r + 2 * n),
        dIn * n,
        dIn * k,
      );
      return { parameters, activation };
    },
    fields: (m) => [
      { path: ["expand"], typical: 2 },
      { path: ["dState"], typical: 16 },
      { path: ["dConv"], typical: 4 },
      ...(typeof m.dtRank === "number"
        ? [{ path: ["dtRank"], typical: 48 }]
        : []),
    ],
  },
  mamba2: {
    // in_proj (2dIn + 2gn + h, d) [+ bias], conv1d (dIn + 2gn, 1, k)
    // [+ bias], dt_bias, A_log, D (h), norm (dIn), out_proj (d, dIn) [+ d].
    size(m, { dModel: d, tokens: l }) {
      const dIn = dInnerOf(m, d), h = headsOf(m, d), n = m.dState;
      const conv = dIn + 2 * m.groups * n, k = m.dConv;
      const inProj = dIn + conv + h;
      const parameters = inProj * d + conv * k + 3 * h + dIn + d * dIn +
        (m.convBias ? conv : 0) + (m.bias ? inProj + d : 0);
      // (l, in_proj width), the (h, headDim, n) state, the (k, conv) window,
      // a chunk's (h, Q, Q) decay matrix.
      const q = Math.min(l, m.chunkSize);
      const activation = Math.max(l * inProj, dIn * n, conv * k, h * q * q);
      return { parameters, activation };
    },
    fields: (m) => [
      { path: ["expand"], typical: 2 },
      { path: ["dState"], typical: 128 },
      { path: ["dConv"], typical: 4 },
      { path: ["groups"], typical: 1 },
      { path: ["chunkSize"], typical: 256 },
      ...(typeof m.heads === "number"
        ? [{ path: ["heads"], typical: 24 }]
        : []),
    ],
  },
};

type NodeOf<K extends NodeKind> = Extract<Node, { kind: K }>;
type LeafKind = Exclude<NodeKind, "repeat">;

/** Norm weights: d (RMSNorm) or 2d (LayerNorm, with a bias). */
function normParameters(kind: "rms_norm" | "layer_norm", d: number): number {
  return kind === "layer_norm" ? 2 * d : d;
}

const normSizer: Sizer<NodeOf<"rms_norm" | "layer_norm">> = {
  size: (node, { dModel: d, tokens: l }) => ({
    parameters: normParameters(node.kind, d),
    activation: l * d,
  }),
  fields: () => [],
};

/** Every node kind but `repeat` (which multiplies its body), by kind. */
export const NODE_SIZES: { readonly [K in LeafKind]: Sizer<NodeOf<K>> } = {
  embedding: {
    size: (_node, { dModel: d, paddedVocab: v, tokens: l }) => ({
      parameters: v * d,
      activation: l * d,
    }),
    fields: () => [
      { path: ["dim"], typical: 768 },
      { path: ["vocab"], typical: 50280 },
      { path: ["padVocabMultiple"], typical: 1 },
    ],
  },
  rms_norm: normSizer,
  layer_norm: normSizer,
  mamba: MIXER_SIZES.mamba,
  mamba2: MIXER_SIZES.mamba2,
  residual: {
    size(node, ctx) {
      const mixer = (MIXER_SIZES[node.mixer.kind] as Sizer<typeof node.mixer>)
        .size(node.mixer, ctx);
      return {
        parameters: normParameters(node.norm.kind, ctx.dModel) +
          mixer.parameters,
        activation: Math.max(ctx.tokens * ctx.dModel, mixer.activation),
      };
    },
    fields: (node) =>
      (MIXER_SIZES[node.mixer.kind] as Sizer<typeof node.mixer>)
        .fields(node.mixer).map((f) => ({
          ...f,
          path: ["mixer", ...f.path],
        })),
  },
  dropout: {
    size: (_node, { dModel: d, tokens: l }) => ({
      parameters: 0,
      activation: l * d,
    }),
    fields: () => [],
  },
  lm_head: {
    // (l, v) logits; an untied head has its own (v, d) matrix.
    size: (node, { dModel: d, paddedVocab: v, tokens: l }) => ({
      parameters: node.tied ? 0 : v * d,
      activation: l * v,
    }),
    fields: () => [],
  },
  classifier: {
    // pooled (d, or l·d for flatten) → [hidden (u, in) + u] → out (c, width) + c.
    size(node, { dModel: d, seqLen, tokens: l }) {
      const inWidth = node.pooling === "flatten" ? d * (seqLen ?? 1) : d;
      const u = node.hidden?.units;
      const hidden = u === undefined ? 0 : u * inWidth + u;
      const width = u ?? inWidth;
      return {
        parameters: hidden + node.classes * width + node.classes,
        activation: Math.max(l * d, u ?? 0, node.classes),
      };
    },
    fields: (node) => [
      { path: ["classes"], typical: 2 },
      ...(node.hidden ? [{ path: ["hidden", "units"], typical: 1024 }] : []),
    ],
  },
};

/**
 * The size of a list of nodes (one copy).
 * @param nodes the nodes.
 * @param ctx model width, vocab, tokens.
 * @returns their summed parameters and nodes, their largest activation.
 */
export function sizeOfNodes(
  nodes: readonly Node[],
  ctx: SizeContext,
): ArchitectureSizes {
  const total = { parameters: 0, activationElements: 0, nodes: 0 };
  for (const node of nodes) {
    const s = sizeOfNode(node, ctx);
    total.parameters += s.parameters;
    total.activationElements = Math.max(
      total.activationElements,
      s.activationElements,
    );
    total.nodes += s.nodes;
  }
  return total;
}

/**
 * The size of one node; a repeat is `times` copies of its body.
 * @param node the node.
 * @param ctx model width, vocab, tokens.
 * @returns its parameters, largest activation and expanded node count.
 */
export function sizeOfNode(node: Node, ctx: SizeContext): ArchitectureSizes {
  if (node.kind === "repeat") {
    const body = sizeOfNodes(node.body, ctx);
    return {
      parameters: node.times * body.parameters,
      activationElements: body.activationElements,
      nodes: node.times * body.nodes,
    };
  }
  const sizer = NODE_SIZES[node.kind] as {
    size(n: Node, c: SizeContext): { parameters: number; activation: number };
  };
  const { parameters, activation } = sizer.size(node, ctx);
  return { parameters, activationElements: activation, nodes: 1 };
}
