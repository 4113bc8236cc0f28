/**
 * Private: the semantic rules, checked in one place after the schema has
 * passed. Each broken rule gives one issue with the path of the field to fix.
 *
 * Rules: exactly one embedding, first; exactly one head (`lm_head` or
 * `classifier`), last; at least one residual block (counting through
 * repeats); numeric dtRank ≤ dInner = expand·dim; dtFloor ≤ dtMin ≤ dtMax;
 * `flatten` pooling needs `seqLen`; softmax needs ≥ 2 classes. Positivity
 * (dState, dConv, times, eps, dt*) is the schema's job. A bare `mamba` node
 * is only valid as a residual's mixer.
 *
 * Reference: HF `MambaConfig` (time_step_rank "auto" = ceil(d_model / 16));
 * state-spaces/mamba `modules/mamba_simple.py` (dt init range and floor).
 *
 * @module
 */
import {
  ArchitectureError,
  type ArchitectureIssue,
  formatPath,
} from "./errors.ts";
import type {
  Architecture,
  Mamba2Node,
  MambaNode,
  MixerNode,
  Node,
} from "./schema.ts";

const HEAD_KINDS: ReadonlySet<string> = new Set(["lm_head", "classifier"]);

/** A node with the path it sits at. */
interface Located {
  node: Node;
  path: PropertyKey[];
  /** True for nodes directly in `architecture.nodes`. */
  topLevel: boolean;
}

/**
 * Checks every semantic rule.
 * @param arch an architecture that passed the schema.
 * @returns the issues found; empty when the architecture is valid.
 */
export function checkRules(arch: Architecture): ArchitectureIssue[] {
  const { nodes } = arch;
  if (nodes.length === 0) {
    return [
      ArchitectureError.issue(
        ["nodes"],
        "an embedding first, residual blocks, and a head last",
        nodes,
      ),
    ];
  }
  const all = locateAll(nodes, ["nodes"], true);
  const issues: ArchitectureIssue[] = [];
  const last = nodes.length - 1;
  const lastIsHead = HEAD_KINDS.has(nodes[last].kind);

  if (nodes[0].kind !== "embedding") {
    issues.push(
      ArchitectureError.issue(
        ["nodes", 0, "kind"],
        `"embedding" as the first node`,
        nodes[0].kind,
      ),
    );
  }
  if (!lastIsHead) {
    issues.push(
      ArchitectureError.issue(
        ["nodes", last, "kind"],
        `a head ("lm_head" or "classifier") as the last node`,
        nodes[last].kind,
      ),
    );
  }
  for (const { node, path, topLevel } of all) {
    const isFirst = topLevel && path[1] === 0;
    const isLast = topLevel && path[1] === last;
    if (node.kind === "embedding" && !isFirst) {
      issues.push(
        ArchitectureError.issue(
          [...path, "kind"],
          `exactly one embedding, as the first node`,
          node.kind,
        ),
      );
    }
    if (HEAD_KINDS.has(node.kind) && !isLast) {
      const expected = lastIsHead
        ? `exactly one head (nodes[${last}] is the head)`
        : "a head only as the last node";
      issues.push(
        ArchitectureError.issue([...path, "kind"], expected, node.kind),
      );
    }
  }

  if (countResiduals(nodes) === 0) {
    issues.push(
      ArchitectureError.issueText(
        ["nodes"],
        "at least one residual block",
        "none",
      ),
    );
  }

  const dim = nodes[0].kind === "embedding" ? nodes[0].dim : undefined;
  for (const { node, path } of all) {
    if (node.kind === "residual") {
      issues.push(...checkMixer(node.mixer, [...path, "mixer"], dim));
    } else if (node.kind === "mamba" || node.kind === "mamba2") {
      issues.push(
        ArchitectureError.issue(
          [...path, "kind"],
          `a sequence node; a "${node.kind}" mixer goes inside a residual`,
          node.kind,
        ),
      );
    } else if (node.kind === "classifier") {
      const names = node.classes === 1 && node.activation === "sigmoid"
        ? 2 // one sigmoid output: P(class 1), so names for class 0 and 1
        : node.classes;
      if (node.labels && node.labels.length !== names) {
        issues.push(
          ArchitectureError.issueText(
            [...path, "labels"],
            `${names} class names (one per class${
              names !== node.classes ? ", two for one sigmoid output" : ""
            })`,
            `${node.labels.length} names`,
          ),
        );
      }
      if (node.activation === "softmax" && node.classes < 2) {
        issues.push(
          ArchitectureError.issue(
            [...path, "classes"],
            `at least 2 classes for softmax (sigmoid takes 1)`,
            node.classes,
          ),
        );
      }
      if (node.pooling === "flatten" && arch.seqLen === undefined) {
        const pooling = formatPath([...path, "pooling"]);
        issues.push(
          ArchitectureError.issue(
            ["seqLen"],
            `a positive integer, since ${pooling} is "flatten"`,
            arch.seqLen,
          ),
        );
      }
    }
  }
  return issues;
}

/**
 * The rules of one mixer: dtFloor ≤ dtMin ≤ dtMax; Mamba-1: dtRank ≤
 * dInner; Mamba-2: heads × headDim = expand × dim, groups divide heads,
 * the time-step limit's lo ≤ hi.
 */
function checkMixer(
  mixer: MixerNode,
  path: PropertyKey[],
  dim: number | undefined,
): ArchitectureIssue[] {
  const issues: ArchitectureIssue[] = mixer.kind === "mamba2"
    ? checkMamba2(mixer, path, dim)
    : checkMamba1(mixer, path, dim);
  if (mixer.dtMin > mixer.dtMax) {
    issues.push(
      ArchitectureError.issue(
        [...path, "dtMin"],
        `a number <= dtMax (${mixer.dtMax})`,
        mixer.dtMin,
      ),
    );
  }
  if (mixer.dtFloor > mixer.dtMin) {
    issues.push(
      ArchitectureError.issue(
        [...path, "dtFloor"],
        `a number <= dtMin (${mixer.dtMin})`,
        mixer.dtFloor,
      ),
    );
  }
  return issues;
}

/** Mamba-2's shape rules (official `Mamba2.__init__` asserts the same). */
function checkMamba2(
  mixer: Mamba2Node,
  path: PropertyKey[],
  dim: number | undefined,
): ArchitectureIssue[] {
  const issues: ArchitectureIssue[] = [];
  const dInner = dim === undefined ? undefined : mixer.expand * dim;
  let heads = mixer.heads === "auto" ? undefined : mixer.heads;
  if (dInner !== undefined) {
    const what = `expand ${mixer.expand} * dim ${dim} = ${dInner}`;
    if (mixer.heads === "auto") {
      if (dInner % mixer.headDim !== 0) {
        issues.push(
          ArchitectureError.issueText(
            [...path, "headDim"],
            `a divisor of dInner (${what}), since heads is "auto"`,
            String(mixer.headDim),
          ),
        );
      } else heads = dInner / mixer.headDim;
    } else if (mixer.heads * mixer.headDim !== dInner) {
      issues.push(
        ArchitectureError.issueText(
          [...path, "heads"],
          `heads * headDim = dInner (${what})`,
          `${mixer.heads} * ${mixer.headDim} = ${mixer.heads * mixer.headDim}`,
        ),
      );
    }
  }
  if (heads !== undefined && heads % mixer.groups !== 0) {
    issues.push(
      ArchitectureError.issue(
        [...path, "groups"],
        `a divisor of the ${heads} heads`,
        mixer.groups,
      ),
    );
  }
  const [lo, hi] = mixer.dtLimit;
  if (hi !== null && lo > hi) {
    issues.push(
      ArchitectureError.issueText(
        [...path, "dtLimit"],
        "[lo, hi] with lo <= hi",
        JSON.stringify(mixer.dtLimit),
      ),
    );
  }
  return issues;
}

/** Mamba-1's rule: a numeric dtRank ≤ dInner. */
function checkMamba1(
  mixer: MambaNode,
  path: PropertyKey[],
  dim: number | undefined,
): ArchitectureIssue[] {
  const issues: ArchitectureIssue[] = [];
  if (dim !== undefined && mixer.dtRank !== "auto") {
    const dInner = mixer.expand * dim;
    if (mixer.dtRank > dInner) {
      issues.push(
        ArchitectureError.issue(
          [...path, "dtRank"],
          `"auto" or an integer <= dInner = ${dInner} (expand ${mixer.expand} * dim ${dim})`,
          mixer.dtRank,
        ),
      );
    }
  }
  return issues;
}

/** Every node, depth first, with its path. */
function locateAll(
  nodes: readonly Node[],
  prefix: PropertyKey[],
  topLevel: boolean,
): Located[] {
  const out: Located[] = [];
  nodes.forEach((node, i) => {
    const path = [...prefix, i];
    out.push({ node, path, topLevel });
    if (node.kind === "repeat") {
      out.push(...locateAll(node.body, [...path, "body"], false));
    }
  });
  return out;
}

/** Residual blocks in the expanded model (repeats multiply). */
function countResiduals(nodes: readonly Node[]): number {
  let n = 0;
  for (const node of nodes) {
    if (node.kind === "residual") n += 1;
    else if (node.kind === "repeat") {
      n += node.times * countResiduals(node.body);
    }
  }
  return n;
}
