/**
 * Parameter names, shapes and initial values, as the official implementation
 * initialises them.
 *
 * Reference: state-spaces/mamba `modules/mamba_simple.py` (`Mamba.__init__`:
 * dt_proj, A_log, D) and `models/mixer_seq_simple.py` (`_init_weights`:
 * embedding N(0, 0.02), zero linear biases, out_proj rescaled by 1/√nLayers).
 * Linear and conv weights without a special rule follow PyTorch's defaults,
 * U(±1/√fanIn). Names and layouts are those of Hugging Face
 * `MambaForCausalLM` (torch `Linear` weights are (out, in)).
 *
 * @module
 */
import type {
  PlanStep,
  ResolvedArchitecture,
  ResolvedLayer,
} from "../dsl/resolve.ts";
import { Rng } from "./_rng.ts";

/** A named parameter: its shape and float32 values. */
export interface ParamSpec {
  shape: number[];
  init: (rng: Rng, size: number) => Float32Array;
}

const uniform = (bound: number) => (rng: Rng, size: number) => {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(-bound, bound);
  return out;
};
const normal = (std: number) => (rng: Rng, size: number) => {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal(0, std);
  return out;
};
const constant = (value: number) => (_rng: Rng, size: number) =>
  new Float32Array(size).fill(value);

/** Inverse of softplus: log(exp(x) − 1), written stably as x + log(−expm1(−x)). */
function inverseSoftplus(x: number): number {
  return x + Math.log(-Math.expm1(-x));
}

function mixerParams(
  layer: ResolvedLayer,
  dModel: number,
  nLayers: number,
): Record<string, ParamSpec> {
  const m = layer.mixer;
  const dIn = m.dInner, n = m.dState, r = m.dtRankValue, k = m.dConv;
  const p = `backbone.layers.${layer.index}`;
  const specs: Record<string, ParamSpec> = {
    [`${p}.norm.weight`]: { shape: [dModel], init: constant(1) },
    [`${p}.mixer.in_proj.weight`]: {
      shape: [2 * dIn, dModel],
      init: uniform(1 / Math.sqrt(dModel)),
    },
    [`${p}.mixer.conv1d.weight`]: {
      shape: [dIn, 1, k],
      init: uniform(1 / Math.sqrt(k)),
    },
    [`${p}.mixer.x_proj.weight`]: {
      shape: [r + 2 * n, dIn],
      init: uniform(1 / Math.sqrt(dIn)),
    },
    [`${p}.mixer.dt_proj.weight`]: {
      shape: [dIn, r],
      init: m.dtInit === "constant"
        ? constant(r ** -0.5 * m.dtScale)
        : uniform(r ** -0.5 * m.dtScale),
    },
    [`${p}.mixer.dt_proj.bias`]: {
      shape: [dIn],
      init: (rng, size) => {
        const out = new Float32Array(size);
        const lo = Math.log(m.dtMin), hi = Math.log(m.dtMax);
        for (let i = 0; i < size; i++) {
          const dt = Math.max(Math.exp(rng.uniform(lo, hi)), m.dtFloor);
          out[i] = inverseSoftplus(dt);
        }
        return out;
      },
    },
    [`${p}.mixer.A_log`]: {
      shape: [dIn, n],
      init: (_rng, size) => {
        const out = new Float32Array(size);
        for (let i = 0; i < size; i++) out[i] = Math.log((i % n) + 1);
        return out;
      },
    },
    [`${p}.mixer.D`]: { shape: [dIn], init: constant(1) },
    [`${p}.mixer.out_proj.weight`]: {
      shape: [dModel, dIn],
      init: uniform(1 / Math.sqrt(dIn) / Math.sqrt(nLayers)),
    },
  };
  if (layer.norm.kind === "layer_norm") {
    specs[`${p}.norm.bias`] = { shape: [dModel], init: constant(0) };
  }
  if (m.convBias) {
    specs[`${p}.mixer.conv1d.bias`] = {
      shape: [dIn],
      init: uniform(1 / Math.sqrt(k)),
    };
  }
  if (m.bias) {
    specs[`${p}.mixer.in_proj.bias`] = { shape: [2 * dIn], init: constant(0) };
    specs[`${p}.mixer.out_proj.bias`] = { shape: [dModel], init: constant(0) };
  }
  return specs;
}

/** A top-level norm step of the plan. */
export type NormStep = Extract<PlanStep, { kind: "norm" }>;

/**
 * Names of the top-level norm steps: the last one before the head is
 * `backbone.norm_f` (Hugging Face), any earlier ones `backbone.norms.{j}`.
 *
 * @returns each `norm` step of the plan with its weight prefix, in plan order.
 */
export function normPrefixes(
  resolved: ResolvedArchitecture,
): Map<NormStep, string> {
  const norms = resolved.plan.filter((s): s is NormStep => s.kind === "norm");
  return new Map(norms.map((step, j) => [
    step,
    j === norms.length - 1 ? "backbone.norm_f" : `backbone.norms.${j}`,
  ]));
}

/**
 * @param resolved the resolved architecture (an LM head or not).
 * @returns the weight the LM head multiplies by: the embedding when tied
 *   (or when the head is not an LM head), else `lm_head.weight`.
 */
export function lmHeadWeightName(resolved: ResolvedArchitecture): string {
  const head = resolved.plan[resolved.plan.length - 1];
  return head.kind === "lm_head" && !head.tied
    ? "lm_head.weight"
    : "backbone.embeddings.weight";
}

/**
 * Every parameter of an architecture with its shape and initialiser.
 *
 * @param resolved the resolved architecture (derived sizes filled in).
 * @returns specs keyed by Hugging Face parameter name, in creation order.
 */
export function parameterSpecs(
  resolved: ResolvedArchitecture,
): Map<string, ParamSpec> {
  const d = resolved.dModel;
  const nLayers = resolved.layers.length;
  const specs = new Map<string, ParamSpec>();
  specs.set("backbone.embeddings.weight", {
    shape: [resolved.paddedVocab, d],
    init: normal(0.02),
  });
  for (const layer of resolved.layers) {
    for (const [name, spec] of Object.entries(mixerParams(layer, d, nLayers))) {
      specs.set(name, spec);
    }
  }
  for (const [step, prefix] of normPrefixes(resolved)) {
    specs.set(`${prefix}.weight`, { shape: [d], init: constant(1) });
    if (step.norm.kind === "layer_norm") {
      specs.set(`${prefix}.bias`, { shape: [d], init: constant(0) });
    }
  }
  const head = resolved.plan[resolved.plan.length - 1];
  if (head.kind === "lm_head" && !head.tied) {
    specs.set("lm_head.weight", {
      shape: [resolved.paddedVocab, d],
      init: uniform(1 / Math.sqrt(d)),
    });
  } else if (head.kind === "classifier") {
    const inWidth = head.pooling === "flatten" ? d * resolved.seqLen! : d;
    let width = inWidth;
    if (head.hidden) {
      specs.set("classifier.hidden.weight", {
        shape: [head.hidden.units, width],
        init: uniform(1 / Math.sqrt(width)),
      });
      specs.set("classifier.hidden.bias", {
        shape: [head.hidden.units],
        init: constant(0),
      });
      width = head.hidden.units;
    }
    specs.set("classifier.out.weight", {
      shape: [head.classes, width],
      init: uniform(1 / Math.sqrt(width)),
    });
    specs.set("classifier.out.bias", {
      shape: [head.classes],
      init: constant(0),
    });
  }
  return specs;
}

/**
 * Draws initial values for every parameter.
 *
 * @param resolved the resolved architecture.
 * @param seed the seed; equal seeds give equal weights.
 * @returns values keyed by parameter name.
 */
export function initialValues(
  resolved: ResolvedArchitecture,
  seed: number,
): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, spec] of parameterSpecs(resolved)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    out.set(name, { shape: spec.shape, data: spec.init(rng, size) });
  }
  return out;
}
