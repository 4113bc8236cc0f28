/**
 * Private: the size limits of `sizes.ts`, checked while validating.
 *
 * - {@linkcode checkDepth} runs on the raw value, before the schema: zod
 *   recurses once per level, so a `repeat` nested thousands deep would
 *   overflow the stack there. The walk here uses its own stack and stops at
 *   the limit, so a cyclic object built in TypeScript is refused too.
 * - {@linkcode checkSizes} runs after the semantic rules: parameters, the
 *   largest activation and the expanded node count against the limits, and
 *   for each exceeded limit one issue at the field to blame — the field
 *   that, set back to a typical value (its default, Mamba-130m's, or 1 for
 *   a repeat count), shrinks the size most, among the embedding's sizes,
 *   seqLen, and the fields on the way down to the node that weighs most.
 *   The message gives the size the field implies and the limit.
 *
 * @module
 */
import {
  ArchitectureError,
  type ArchitectureIssue,
  describeValue,
} from "./errors.ts";
import {
  NODE_SIZES,
  type SizeContext,
  type SizeField,
  sizeOfNode,
} from "./_node_sizes.ts";
import {
  type ArchitectureSizes,
  architectureSizes,
  DEFAULT_SIZE_LIMITS,
  type SizeLimits,
} from "./sizes.ts";
import type { Architecture, EmbeddingNode, Node } from "./schema.ts";
import { paddedVocabOf } from "./_derived.ts";

/**
 * The limits with every default filled in, each checked to be a positive
 * number.
 * @param limits the caller's limits.
 * @returns every limit.
 * @throws RangeError naming an invalid limit.
 */
export function fullLimits(limits: SizeLimits): Required<SizeLimits> {
  const out = { ...DEFAULT_SIZE_LIMITS };
  for (const key of Object.keys(DEFAULT_SIZE_LIMITS) as (keyof SizeLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !(value > 0)) {
      throw new RangeError(
        `${key}: expected a positive number, received ${describeValue(value)}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * Refuses `repeat` nodes nested deeper than `maxDepth`, on the raw value.
 * @param value the value about to be parsed (anything).
 * @param maxDepth the deepest nesting allowed.
 * @returns one issue at the first repeat too deep; empty otherwise.
 */
export function checkDepth(
  value: unknown,
  maxDepth: number,
): ArchitectureIssue[] {
  const nodes = (value as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) return [];
  const stack: { list: unknown[]; path: PropertyKey[]; depth: number }[] = [
    { list: nodes, path: ["nodes"], depth: 0 },
  ];
  while (stack.length > 0) {
    const { list, path, depth } = stack.pop()!;
    for (let i = 0; i < list.length; i++) {
      const body = (list[i] as { body?: unknown } | null)?.body;
      if (!Array.isArray(body)) continue;
      if (depth + 1 > maxDepth) {
        return [
          ArchitectureError.issueText(
            [...path, i],
            `repeats nested at most ${maxDepth} deep (the maxDepth limit)`,
            `a repeat nested ${depth + 1} deep`,
          ),
        ];
      }
      stack.push({ list: body, path: [...path, i, "body"], depth: depth + 1 });
    }
  }
  return [];
}

/** One limit: its option name, what it measures, the phrase for the size. */
interface Limit {
  key: "maxParameters" | "maxActivationElements" | "maxNodes";
  measure: (s: ArchitectureSizes) => number;
  /** `within 4,000,000,000 parameters`. */
  within: (limit: string) => string;
  /** `which makes 2.1e+13 parameters`. */
  makes: (size: string) => string;
}

const LIMITS: readonly Limit[] = [
  {
    key: "maxParameters",
    measure: (s) => s.parameters,
    within: (n) => `the model within ${n} parameters`,
    makes: (n) => `which makes ${n} parameters`,
  },
  {
    key: "maxActivationElements",
    measure: (s) => s.activationElements,
    within: (n) => `every activation of one sequence within ${n} elements`,
    makes: (n) => `which makes an activation of ${n} elements`,
  },
  {
    key: "maxNodes",
    measure: (s) => s.nodes,
    within: (n) => `the model within ${n} nodes once repeats are expanded`,
    makes: (n) => `which makes ${n} nodes`,
  },
];

/**
 * Checks an architecture's sizes against the limits.
 * @param arch an architecture that passed the schema and the rules.
 * @param limits every limit.
 * @returns one issue per exceeded limit, at the field to blame.
 */
export function checkSizes(
  arch: Architecture,
  limits: Required<SizeLimits>,
): ArchitectureIssue[] {
  const sizes = architectureSizes(arch);
  const issues: ArchitectureIssue[] = [];
  for (const limit of LIMITS) {
    const size = limit.measure(sizes);
    const max = limits[limit.key];
    if (size <= max) continue;
    const path = blame(arch, limit.measure);
    issues.push(
      ArchitectureError.issueText(
        path,
        `a size that keeps ${
          limit.within(formatCount(max))
        } (the ${limit.key} limit)`,
        `${describeValue(at(arch, path))}, ${limit.makes(formatCount(size))}`,
      ),
    );
  }
  return issues;
}

/**
 * The field to blame for a size: among the candidates, the one that, set
 * back to its typical value, leaves the smallest size.
 */
function blame(
  arch: Architecture,
  measure: (s: ArchitectureSizes) => number,
): PropertyKey[] {
  const first = arch.nodes[0] as EmbeddingNode;
  const candidates: SizeField[] = NODE_SIZES.embedding.fields(first).map((
    f,
  ) => ({ ...f, path: ["nodes", 0, ...f.path] }));
  if (arch.seqLen !== undefined) {
    candidates.push({ path: ["seqLen"], typical: 1 });
  }
  candidates.push(...heaviestFields(arch, measure));
  let best = candidates[0].path;
  let bestSize = Infinity;
  for (const { path, typical } of candidates) {
    const value = at(arch, path);
    if (typeof value !== "number" || value <= typical) continue;
    const copy = structuredClone(arch);
    setAt(copy, path, typical);
    const size = measure(architectureSizes(copy));
    if (size < bestSize) {
      best = path;
      bestSize = size;
    }
  }
  return best;
}

/**
 * The fields along the way down to the heaviest node: at each level the
 * node that weighs most, a repeat's `times` and then its body, ending with
 * that node's own size fields.
 */
function heaviestFields(
  arch: Architecture,
  measure: (s: ArchitectureSizes) => number,
): SizeField[] {
  const first = arch.nodes[0];
  if (first.kind !== "embedding") return [];
  const ctx: SizeContext = {
    dModel: first.dim,
    paddedVocab: paddedVocabOf(first),
    seqLen: arch.seqLen,
    tokens: arch.seqLen ?? 1,
  };
  const out: SizeField[] = [];
  let list: readonly Node[] = arch.nodes;
  let prefix: PropertyKey[] = ["nodes"];
  for (;;) {
    let index = 0;
    let heaviest = -1;
    list.forEach((node, i) => {
      const weight = measure(sizeOfNode(node, ctx));
      if (weight > heaviest) [index, heaviest] = [i, weight];
    });
    const node = list[index];
    const path = [...prefix, index];
    if (node.kind !== "repeat") {
      const sizer = NODE_SIZES[node.kind] as {
        fields(n: Node): SizeField[];
      };
      out.push(
        ...sizer.fields(node).map((f) => ({
          ...f,
          path: [...path, ...f.path],
        })),
      );
      return out;
    }
    out.push({ path: [...path, "times"], typical: 1 });
    list = node.body;
    prefix = [...path, "body"];
  }
}

/** The value at `path` inside `root`, or undefined. */
function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** Sets the value at `path` (which exists) inside `root`. */
function setAt(root: unknown, path: readonly PropertyKey[], value: unknown) {
  const parent = at(root, path.slice(0, -1)) as Record<PropertyKey, unknown>;
  parent[path[path.length - 1]] = value;
}

/** `4,000,000,000` up to a trillion, `2.11e+13` beyond. */
export function formatCount(n: number): string {
  return n < 1e12 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3);
}
