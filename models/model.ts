/**
 * Builds a Mamba model from a validated architecture (DSL data): weights
 * kept by their Hugging Face names, and every call (forward, training
 * forward, prefill, step) run as the architecture's program for that mode
 * (`program/lower.ts`) by the tfjs executor (`program/tfjs_executor.ts`).
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
import type { SizeLimits } from "../dsl/sizes.ts";
import type { Architecture } from "../dsl/schema.ts";
import {
  type PlanStep,
  resolveArchitecture,
  type ResolvedArchitecture,
} from "../dsl/resolve.ts";
import { initialValues, parameterSpecs } from "./init.ts";
import { mixerKindOf } from "./nodes/registry.ts";
import { lowerArchitecture } from "./program/lower.ts";
import { bindShape, type Mode, type Program } from "./program/program.ts";
import { runTfjs } from "./program/tfjs_executor.ts";
import { type Linear, linear } from "./_layers.ts";
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

const disposeHooks = new WeakMap<MambaModel, (() => void)[]>();

/**
 * Runs `hook` when `model.dispose()` is called, before its weights are
 * freed: caches that hold GPU resources bound to a model's weights (the
 * program executors of `infer/_program_gpu.ts`) free them with the model.
 * @param model a model from {@linkcode buildModel}.
 * @param hook called once, at dispose.
 */
export function onModelDispose(model: MambaModel, hook: () => void): void {
  const hooks = disposeHooks.get(model) ?? [];
  hooks.push(hook);
  disposeHooks.set(model, hooks);
}

/** Options of {@linkcode buildModel}. */
export interface BuildOptions {
  /** Seed of the initialisation (default 0). */
  seed?: number;
  /** Weights to use instead of a fresh initialisation (every name, exact shapes). */
  weights?: WeightValues;
  /** Size limits the architecture is held to (see `dsl/sizes.ts`). */
  limits?: SizeLimits;
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
  const arch = validateArchitecture(architecture, options.limits);
  const resolved = resolveArchitecture(arch, options.limits);
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
  readonly #programs = new Map<string, Program>();

  constructor(
    readonly architecture: Architecture,
    readonly resolved: ResolvedArchitecture,
    readonly params: Map<string, tf.Variable>,
  ) {}

  get #head(): PlanStep {
    return this.resolved.plan[this.resolved.plan.length - 1];
  }

  /** The program for a mode, lowered once and kept. */
  #program(mode: Mode, lastOnly = false): Program {
    const key = `${mode}${lastOnly ? ":last" : ""}`;
    let program = this.#programs.get(key);
    if (!program) {
      program = lowerArchitecture(this.resolved, mode, { lastOnly });
      this.#programs.set(key, program);
    }
    return program;
  }

  forward(ids: TokenIds, options: ForwardOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const idT = toIdTensor(ids, this.resolved.vocab, "forward: ids"); // (b, l)
      const program = this.#program(options.training ? "train" : "forward");
      const out = runTfjs(program, { ids: idT, params: this.params }, {
        seed: options.seed ?? 0,
      });
      return options.raw && out.raw ? out.raw : out.output;
    });
  }

  prefill(
    ids: TokenIds,
    options: PrefillOptions = {},
  ): { logits: tf.Tensor3D; state: ModelState } {
    this.#requireLm("prefill");
    return tf.tidy(() => {
      const idT = toIdTensor(ids, this.resolved.vocab, "forward: ids"); // (b, l)
      const program = this.#program("prefill", options.lastOnly ?? false);
      const out = runTfjs(program, { ids: idT, params: this.params });
      return {
        logits: out.output as tf.Tensor3D, // (b, l, v) or (b, 1, v)
        state: { layers: out.state as LayerState[] },
      };
    });
  }

  step(
    ids: number[] | tf.Tensor1D,
    state: ModelState,
  ): { logits: tf.Tensor2D; state: ModelState } {
    this.#requireLm("step");
    const nLayers = this.resolved.layers.length;
    if (state.layers.length !== nLayers) {
      throw new Error(
        `step: state.layers: expected ${nLayers} layers, received ${state.layers.length}`,
      );
    }
    return tf.tidy(() => {
      const idT = toIdTensor(
        Array.isArray(ids) ? [ids] : ids.reshape([1, -1]) as tf.Tensor2D,
        this.resolved.vocab,
        "step: ids",
      ).reshape([-1]); // (b)
      const out = runTfjs(this.#program("step"), {
        ids: idT,
        params: this.params,
        state: state.layers,
      }, { linear: this.#stepLinear });
      return {
        logits: out.output as tf.Tensor2D, // (b, v)
        state: { layers: out.state as LayerState[] },
      };
    });
  }

  initialState(batch: number): ModelState {
    return tf.tidy(() => ({
      layers: this.resolved.layers.map((layer) => {
        const shape = mixerKindOf(layer.mixer).stateShape(layer.mixer);
        const conv: tf.Tensor = tf.zeros(bindShape(shape.conv, batch, 0)); // (b, k-1, dIn)
        const ssm: tf.Tensor = tf.zeros(bindShape(shape.ssm, batch, 0)); // (b, dIn, n)
        return { conv, ssm } as LayerState;
      }),
    }));
  }

  dispose(): void {
    for (const hook of disposeHooks.get(this) ?? []) hook();
    disposeHooks.delete(this);
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

  #requireLm(what: string): void {
    if (this.#head.kind !== "lm_head") {
      throw new Error(
        `${what}: needs an lm_head model, this architecture ends in "${this.#head.kind}"`,
      );
    }
  }
}
