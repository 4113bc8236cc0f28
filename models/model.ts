/**
 * Compiles a validated architecture (DSL data) into a Mamba model: a pass
 * over the resolved plan that applies each step with tfjs ops, over weights
 * kept by their Hugging Face names.
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` inner width,
 * `n` state size, `k` conv width, `v` (padded) vocab, `c` classes.
 *
 * Reference: state-spaces/mamba `models/mixer_seq_simple.py`
 * (`MixerModel`, `MambaLMHeadModel`); residual blocks are [Norm → Mamba → Add]
 * as in Hugging Face `MambaBlock`.
 *
 * @module
 */
import { ensureBackendSync, tf } from "../kernels/backend.ts";
import { validateArchitecture } from "../dsl/builder.ts";
import type { Architecture } from "../dsl/schema.ts";
import {
  type PlanStep,
  resolveArchitecture,
  type ResolvedArchitecture,
} from "../dsl/resolve.ts";
import {
  initialValues,
  lmHeadWeightName,
  normPrefixes,
  type NormStep,
  parameterSpecs,
} from "./init.ts";
import {
  type MixerConfig,
  mixerForward,
  mixerStep,
  type MixerWeights,
  mixerWeights,
  zeroLayerState,
} from "./mixer.ts";
import { applyNorm, type Linear, linear, matMulTransposed } from "./_layers.ts";
import { classify } from "./_head.ts";
import { toIdTensor } from "./_ids.ts";
import type {
  ForwardOptions,
  LayerState,
  MambaModel,
  ModelState,
  PrefillOptions,
  TokenIds,
} from "./types.ts";

/** Weight values by Hugging Face name, as read from a checkpoint. */
export type WeightValues = Map<string, { shape: number[]; data: Float32Array }>;

/** Options of {@linkcode buildModel}. */
export interface BuildOptions {
  /** Seed of the initialisation (default 0). */
  seed?: number;
  /** Weights to use instead of a fresh initialisation (every name, exact shapes). */
  weights?: WeightValues;
}

/**
 * Builds a model from an architecture.
 *
 * The architecture is validated first: an invalid one throws an
 * `ArchitectureError` naming the field before any tensor is created.
 *
 * @param architecture DSL data (from `architecture()` or parsed JSON).
 * @param options seed, or weights to load.
 * @returns the model, its weights as tf variables on the active backend.
 * @example
 * ```ts
 * import { buildModel } from "./model.ts";
 * import byteLm from "../examples/byte_lm.ts";
 * const model = buildModel(byteLm, { seed: 1 });
 * const logits = model.forward([[72, 105]]); // (1, 2, 256)
 * ```
 */
export function buildModel(
  architecture: unknown,
  options: BuildOptions = {},
): MambaModel {
  const arch = validateArchitecture(architecture);
  const resolved = resolveArchitecture(arch);
  const values = options.weights ?? initialValues(resolved, options.seed ?? 0);
  checkWeights(resolved, values);
  ensureBackendSync(); // no backend chosen yet: cpu, said once on stderr
  const params = new Map<string, tf.Variable>();
  for (const [name, { shape, data }] of values) {
    params.set(name, tf.variable(tf.tensor(data, shape, "float32"), true));
  }
  return new Model(arch, resolved, params);
}

function checkWeights(resolved: ResolvedArchitecture, values: WeightValues) {
  const specs = parameterSpecs(resolved);
  const problems: string[] = [];
  for (const [name, spec] of specs) {
    const value = values.get(name);
    if (!value) {
      problems.push(`${name}: missing (expected shape [${spec.shape}])`);
    } else if (value.shape.join() !== spec.shape.join()) {
      problems.push(
        `${name}: expected shape [${spec.shape}], received [${value.shape}]`,
      );
    } else if (value.data.length !== spec.shape.reduce((a, b) => a * b, 1)) {
      problems.push(`${name}: data length ${value.data.length} ≠ shape`);
    }
  }
  for (const name of values.keys()) {
    if (!specs.has(name)) {
      problems.push(`${name}: unexpected tensor for this architecture`);
    }
  }
  if (problems.length) {
    throw new Error(
      `weights do not fit the architecture:\n  ${problems.join("\n  ")}`,
    );
  }
}

class Model implements MambaModel {
  readonly #mixers: {
    prefix: string;
    cfg: MixerConfig;
    weights: MixerWeights;
  }[];
  readonly #norms: Map<NormStep, string>;

  constructor(
    readonly architecture: Architecture,
    readonly resolved: ResolvedArchitecture,
    readonly params: Map<string, tf.Variable>,
  ) {
    this.#mixers = resolved.layers.map((layer) => ({
      prefix: `backbone.layers.${layer.index}`,
      weights: mixerWeights(params, `backbone.layers.${layer.index}.mixer`),
      cfg: {
        dInner: layer.mixer.dInner,
        dState: layer.mixer.dState,
        dtRank: layer.mixer.dtRankValue,
        dConv: layer.mixer.dConv,
        scan: layer.mixer.scan,
      },
    }));
    this.#norms = normPrefixes(resolved);
  }

  get #head(): PlanStep {
    return this.resolved.plan[this.resolved.plan.length - 1];
  }

  forward(ids: TokenIds, options: ForwardOptions = {}): tf.Tensor {
    return tf.tidy(() => this.#run(ids, options, false).output);
  }

  prefill(
    ids: TokenIds,
    options: PrefillOptions = {},
  ): { logits: tf.Tensor3D; state: ModelState } {
    this.#requireLm("prefill");
    return tf.tidy(() => {
      const { output, states } = this.#run(
        ids,
        {},
        true,
        options.lastOnly ?? false,
      );
      return { logits: output as tf.Tensor3D, state: { layers: states } };
    });
  }

  step(
    ids: number[] | tf.Tensor1D,
    state: ModelState,
  ): { logits: tf.Tensor2D; state: ModelState } {
    this.#requireLm("step");
    if (state.layers.length !== this.#mixers.length) {
      throw new Error(
        `step: state.layers: expected ${this.#mixers.length} layers, received ${state.layers.length}`,
      );
    }
    return tf.tidy(() => {
      const idT = toIdTensor(
        Array.isArray(ids) ? [ids] : ids.reshape([1, -1]) as tf.Tensor2D,
        this.resolved.vocab,
        "step: ids",
      ).reshape([-1]); // (b)
      let h = tf.gather(
        this.#param("backbone.embeddings.weight"),
        idT,
      ) as tf.Tensor2D; // (b, d)
      const layers: LayerState[] = [];
      for (const step of this.resolved.plan) {
        if (step.kind === "residual") {
          const { prefix, cfg, weights } = this.#mixers[step.layer];
          const normed = this.#norm(`${prefix}.norm`, step.layer, h);
          const out = mixerStep(
            weights,
            normed as tf.Tensor2D,
            cfg,
            state.layers[step.layer],
            this.#stepLinear,
          );
          layers.push(out.state);
          h = tf.add(h, out.y);
        } else if (step.kind === "norm") {
          h = this.#topNorm(step, h) as tf.Tensor2D;
        } else if (step.kind === "lm_head") {
          const logits = this.#stepLinear(h, this.#lmWeight()); // (b, v)
          return { logits: logits as tf.Tensor2D, state: { layers } };
        }
      }
      throw new Error("step: the architecture has no lm_head");
    });
  }

  initialState(batch: number): ModelState {
    return tf.tidy(() => ({
      layers: this.#mixers.map(({ cfg }) => zeroLayerState(cfg, batch)),
    }));
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const { t } of this.#transposed.values()) t.dispose();
    this.#transposed.clear();
  }

  /**
   * The decode step's x · Wᵀ + bias. On wasm with W transposed once and
   * kept: tfjs-wasm's fast matMul has no transposed operand, so a
   * `transposeB` product transposes W on every call (`kernels/_wasm_kernels.ts`)
   * — the LM head alone is 50280 × 768 per token at the Mamba-130m shape.
   * The same transpose and product as before, so the same numbers. A copy is
   * remade when its variable's value changes (training assigns new data).
   */
  readonly #stepLinear: Linear = (x, weight, bias) => {
    if (tf.getBackend() !== "wasm") return linear(x, weight, bias);
    let entry = this.#transposed.get(weight);
    if (!entry || entry.dataId !== weight.dataId) {
      entry?.t.dispose();
      entry = { dataId: weight.dataId, t: tf.keep(tf.transpose(weight)) };
      this.#transposed.set(weight, entry);
    }
    const y = tf.matMul(x as tf.Tensor2D, entry.t as tf.Tensor2D); // (b, out)
    return bias ? tf.add(y, bias) : y;
  };
  readonly #transposed = new Map<tf.Tensor, { dataId: object; t: tf.Tensor }>();

  #run(
    ids: TokenIds,
    options: ForwardOptions,
    wantState: boolean,
    lastOnly = false,
  ): { output: tf.Tensor; states: LayerState[] } {
    const idT = toIdTensor(ids, this.resolved.vocab, "forward: ids"); // (b, l)
    let h = tf.gather(
      this.#param("backbone.embeddings.weight"),
      idT,
    ) as tf.Tensor3D; // (b, l, d)
    const states: LayerState[] = [];
    let dropoutIndex = 0;
    for (const step of this.resolved.plan) {
      switch (step.kind) {
        case "embedding":
          break;
        case "residual": {
          const { prefix, cfg, weights } = this.#mixers[step.layer];
          const normed = this.#norm(`${prefix}.norm`, step.layer, h);
          const out = mixerForward(
            weights,
            normed as tf.Tensor3D,
            cfg,
            { wantState },
          );
          if (out.state) states.push(out.state);
          h = tf.add(h, out.y);
          break;
        }
        case "dropout":
          if (options.training && step.rate > 0) {
            h = tf.dropout(
              h,
              step.rate,
              undefined,
              (options.seed ?? 0) * 1009 + dropoutIndex,
            ) as tf.Tensor3D;
          }
          dropoutIndex++;
          break;
        case "norm":
          h = this.#topNorm(step, h) as tf.Tensor3D;
          break;
        case "lm_head": {
          if (lastOnly) {
            const [b, l, d] = h.shape;
            h = h.slice([0, l - 1, 0], [b, 1, d]); // (b, 1, d)
          }
          const [b, l, d] = h.shape;
          const logits = matMulTransposed(
            h.reshape([b * l, d]),
            this.#lmWeight(),
          ); // (b·l, v)
          return { output: logits.reshape([b, l, -1]), states };
        }
        case "classifier":
          return {
            output: classify(step, h, this.params, {
              seqLen: this.resolved.seqLen,
              raw: options.raw ?? false,
            }),
            states,
          };
      }
    }
    throw new Error("forward: the architecture has no head");
  }

  #param(name: string): tf.Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`missing parameter ${name}`);
    return p;
  }

  #lmWeight(): tf.Tensor2D {
    return this.#param(lmHeadWeightName(this.resolved)) as tf.Tensor2D;
  }

  #norm(prefix: string, layer: number, x: tf.Tensor): tf.Tensor {
    const norm = this.resolved.layers[layer].norm;
    return applyNorm(
      norm,
      x,
      this.#param(`${prefix}.weight`),
      this.params.get(`${prefix}.bias`),
    );
  }

  #topNorm(step: NormStep, x: tf.Tensor): tf.Tensor {
    const prefix = this.#norms.get(step)!;
    return applyNorm(
      step.norm,
      x,
      this.#param(`${prefix}.weight`),
      this.params.get(`${prefix}.bias`),
    );
  }

  #requireLm(what: string): void {
    if (this.#head.kind !== "lm_head") {
      throw new Error(
        `${what}: needs an lm_head model, this architecture ends in "${this.#head.kind}"`,
      );
    }
  }
}
