/**
 * The lowering pass: a resolved architecture → a {@linkcode Program} for one
 * mode. It walks the plan and asks each step's node kind
 * (`../nodes/registry.ts`) to append its ops; it checks that every buffer is
 * defined once and every input is defined before use.
 *
 * @module
 */
import type { ResolvedArchitecture } from "../../dsl/resolve.ts";
import { parameterSpecs, planPrefixes } from "../init.ts";
import type { Lowering } from "../nodes/node_kind.ts";
import { nodeKindOf } from "../nodes/registry.ts";
import type {
  AttrValue,
  Buf,
  Mode,
  Op,
  Program,
  Shape,
  StateBufs,
} from "./program.ts";

/** Options of {@linkcode lowerArchitecture}. */
export interface LowerOptions {
  /** Prefill only: LM-head logits of the last position only. */
  lastOnly?: boolean;
}

/**
 * Lowers a resolved architecture for one mode.
 *
 * @param resolved the resolved architecture.
 * @param mode `forward`, `train`, `prefill` or `step`.
 * @param options `lastOnly` (prefill).
 * @returns the program: ops in order over named buffers with shapes.
 * @throws when a node kind's lowering is inconsistent (a buffer defined
 *   twice, an input used before it is defined, an unknown parameter), or a
 *   classifier is lowered for prefill or step.
 * @example
 * ```ts
 * import { lowerArchitecture } from "./lower.ts";
 * import { formatProgram } from "./program.ts";
 * import { resolveArchitecture } from "../../dsl/resolve.ts";
 * import byteLm from "../../examples/byte_lm.ts";
 * const program = lowerArchitecture(resolveArchitecture(byteLm), "step");
 * console.log(formatProgram(program));
 * ```
 */
export function lowerArchitecture(
  resolved: ResolvedArchitecture,
  mode: Mode,
  options: LowerOptions = {},
): Program {
  const lastOnly = mode === "prefill" && (options.lastOnly ?? false);
  const specs = parameterSpecs(resolved);
  const defined = new Set<string>();
  const params = new Map<string, Shape>();
  const ops: Op[] = [];
  const counts = new Map<string, number>();
  const stateIn: StateBufs[] = [];
  const stateOut: StateBufs[] = [];
  let raw: Buf | undefined;

  const define = (buf: Buf) => {
    if (defined.has(buf.name)) {
      throw new Error(`lowering: buffer ${buf.name} is defined twice`);
    }
    defined.add(buf.name);
  };
  const ids: Buf = { name: "ids", shape: mode === "step" ? ["b"] : ["b", "l"] };
  define(ids);

  const make = (scope: string, prefix: string): Lowering => ({
    mode,
    lastOnly,
    resolved,
    prefix,
    param(name) {
      const spec = specs.get(name);
      if (!spec) {
        throw new Error(`lowering: ${name} is not a parameter of this model`);
      }
      if (!params.has(name)) {
        params.set(name, spec.shape);
        defined.add(name);
      }
      return { name, shape: spec.shape };
    },
    maybeParam(name) {
      return specs.has(name) ? this.param(name) : undefined;
    },
    op(op, inputs, outputs, attrs = {}) {
      for (const input of inputs) {
        if (input && !defined.has(input.name)) {
          throw new Error(
            `lowering: ${op} in ${scope} reads ${input.name} before it is defined`,
          );
        }
      }
      const outs = outputs.map(([name, shape]) => ({
        name: scope ? `${scope}.${name}` : name,
        shape: [...shape],
      }));
      outs.forEach(define);
      ops.push({
        op,
        inputs: inputs.map((i) => i?.name ?? null),
        outputs: outs,
        attrs,
      });
      return outs;
    },
    count(key) {
      const n = counts.get(key) ?? 0;
      counts.set(key, n + 1);
      return n;
    },
    within(sub, subPrefix) {
      return make(scope ? `${scope}.${sub}` : sub, subPrefix);
    },
    stateIn(layer, shapes) {
      const bufs = {
        conv: { name: `state.${layer}.conv`, shape: [...shapes.conv] },
        ssm: { name: `state.${layer}.ssm`, shape: [...shapes.ssm] },
      };
      define(bufs.conv);
      define(bufs.ssm);
      stateIn[layer] = bufs;
      return bufs;
    },
    stateOut(layer, state) {
      stateOut[layer] = state;
    },
    setRaw(buf) {
      raw = buf;
    },
  });

  const prefixes = planPrefixes(resolved);
  let x: Buf = ids;
  resolved.plan.forEach((step, i) => {
    const scope = prefixes[i].replace(/^backbone\./, "");
    x = nodeKindOf(step).lower(step, x, make(scope, prefixes[i]));
  });
  const program: Program = {
    mode,
    lastOnly,
    ids,
    params,
    stateIn,
    stateOut,
    ops,
    output: x,
    ...(raw ? { raw } : {}),
  };
  return program;
}

/** Attribute values, re-exported for node kinds that build ops by hand. */
export type { AttrValue };
