/**
 * Private: the program's WebGPU executor (`models/program/webgpu_executor.ts`)
 * for the models the prebuilt Mamba-1 paths decline (`_mamba1_only.ts`):
 * Mamba-2, Falcon-Mamba and mixed stacks. Generation prefills each prompt
 * with the prefill program (last position only) and decodes with the step
 * program; classification runs the forward program. Mamba-1-only models stay
 * on `GpuForward` / `GpuDecoder` (their speed against the executor has not
 * been measured on a GPU), so this path never takes them.
 *
 * Executors are built per (mode, batch, length) on first use and kept per
 * model (the last {@linkcode CAPACITY} used); they bind the model's weights in
 * place. One that was built before a weight was reassigned is rebuilt;
 * `model.dispose()` frees every executor of the model. An executor that refuses to build (an op with no WebGPU binding, a
 * buffer past the storage binding limit) makes the call return null, and
 * the caller runs the model's tfjs program instead.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { LayerState, MambaModel, ModelState } from "../models/types.ts";
import { lowerArchitecture } from "../models/program/lower.ts";
import { onModelDispose } from "../models/model.ts";
import type { Program } from "../models/program/program.ts";
import {
  WebGpuExecutor,
  type WebGpuRunOutputs,
} from "../models/program/webgpu_executor.ts";
import { notMamba1 } from "./_mamba1_only.ts";

/** Executors kept per model, least recently used dropped first. */
export const CAPACITY = 8;

/** Runs through the executor since start, by mode (tests check the path ran). */
export const programGpuCalls = { prefill: 0, step: 0, forward: 0 };

/**
 * Why the executor path does not take a model here, or null.
 * @param model any model.
 * @returns null on webgpu for a model with at least one layer the prebuilt
 *   Mamba-1 paths decline; else the reason.
 */
export function programGpuUnsupported(model: MambaModel): string | null {
  if (tf.getBackend() !== "webgpu") {
    return `backend is "${tf.getBackend()}", not "webgpu"`;
  }
  if (model.resolved.layers.every((l) => notMamba1(l) === null)) {
    return "a Mamba-1 model: the prebuilt GpuForward / GpuDecoder run it";
  }
  return null;
}

type Key = `${"forward" | "prefill" | "step"}:${number}x${number}`;

/** The executors of one model. */
class ProgramGpu {
  readonly #model: MambaModel;
  readonly #programs = new Map<string, Program>();
  /** By key, least recently used first. */
  readonly #execs = new Map<Key, WebGpuExecutor>();
  /** Keys whose executor refused to build, with the reason. */
  readonly refused = new Map<Key, string>();

  constructor(model: MambaModel) {
    this.#model = model;
  }

  /** Runs a program; null when its executor refuses to build. */
  run(
    mode: "forward" | "prefill" | "step",
    batch: number,
    length: number,
    ids: number[][] | number[],
    state?: LayerState[],
  ): WebGpuRunOutputs | null {
    const key: Key = `${mode}:${batch}x${length}`;
    if (this.refused.has(key)) return null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const exec = this.#get(key, mode, batch, length);
      if (!exec) return null;
      try {
        const out = exec.run(ids, state);
        programGpuCalls[mode]++;
        return out;
      } catch (error) {
        // Built before a weight was reassigned: build anew once.
        if (attempt > 0 || !/reassigned or disposed/.test(String(error))) {
          throw error;
        }
        exec.dispose();
        this.#execs.delete(key);
      }
    }
    return null;
  }

  /** Executors held. */
  get size(): number {
    return this.#execs.size;
  }

  dispose(): void {
    for (const exec of this.#execs.values()) exec.dispose();
    this.#execs.clear();
  }

  #get(
    key: Key,
    mode: "forward" | "prefill" | "step",
    batch: number,
    length: number,
  ): WebGpuExecutor | null {
    let exec = this.#execs.get(key);
    this.#execs.delete(key); // re-inserted as the most recent
    if (!exec) {
      try {
        exec = new WebGpuExecutor(this.#program(mode), this.#model.params, {
          batch,
          length,
        });
      } catch (error) {
        this.refused.set(key, String((error as Error)?.message ?? error));
        return null;
      }
      if (this.#execs.size >= CAPACITY) {
        const [oldest, old] = this.#execs.entries().next().value!;
        old.dispose();
        this.#execs.delete(oldest);
      }
    }
    this.#execs.set(key, exec);
    return exec;
  }

  #program(mode: "forward" | "prefill" | "step"): Program {
    let program = this.#programs.get(mode);
    if (!program) {
      program = lowerArchitecture(
        this.#model.resolved,
        mode,
        mode === "prefill" ? { lastOnly: true } : undefined,
      );
      this.#programs.set(mode, program);
    }
    return program;
  }
}

const byModel = new WeakMap<MambaModel, ProgramGpu>();

/**
 * The model's executors, made on first use. No scan of the weights here on
 * every token: `model.dispose()` frees them (the hook below), and an
 * executor's own run checks its weights (a reassigned one is rebuilt once).
 */
function executorsOf(model: MambaModel): ProgramGpu {
  let gpu = byModel.get(model);
  if (!gpu) {
    byModel.set(model, gpu = new ProgramGpu(model));
    onModelDispose(model, () => disposeProgramGpu(model));
  }
  return gpu;
}

/**
 * Frees every executor held for a model (a later call builds anew).
 * @param model the model.
 */
export function disposeProgramGpu(model: MambaModel): void {
  byModel.get(model)?.dispose();
  byModel.delete(model);
}

/**
 * How many executors are held for a model (tests check they are freed).
 * @param model the model.
 * @returns the count, 0 when none.
 */
export function programGpuExecutors(model: MambaModel): number {
  return byModel.get(model)?.size ?? 0;
}

/**
 * Why the executor refused to build for a model, by `mode:batchxlength`.
 * @param model the model.
 * @returns the refusals so far (empty when none).
 */
export function programGpuRefusals(
  model: MambaModel,
): ReadonlyMap<string, string> {
  return byModel.get(model)?.refused ?? new Map();
}

/**
 * One prompt's last logits and state through the prefill program.
 * @param model a model {@linkcode programGpuUnsupported} takes, LM head.
 * @param prompt the prompt ids (checked by the caller).
 * @returns logits (1, 1, v) and the state, or null: use `model.prefill`.
 */
export function programPrefill(
  model: MambaModel,
  prompt: number[],
): { logits: tf.Tensor3D; state: ModelState } | null {
  const out = executorsOf(model).run("prefill", 1, prompt.length, [prompt]);
  if (!out) return null;
  return {
    logits: out.output as tf.Tensor3D, // (1, 1, v)
    state: { layers: out.state as LayerState[] },
  };
}

/**
 * One recurrent step for a batch through the step program.
 * @param model a model {@linkcode programGpuUnsupported} takes, LM head.
 * @param ids (b) one token per sequence.
 * @param state the state after the previous token (left intact).
 * @returns logits (b, v) and the new state, or null: use `model.step`.
 */
export function programStep(
  model: MambaModel,
  ids: number[],
  state: ModelState,
): { logits: tf.Tensor2D; state: ModelState } | null {
  const out = executorsOf(model).run(
    "step",
    ids.length,
    1,
    ids,
    state.layers,
  );
  if (!out) return null;
  return {
    logits: out.output as tf.Tensor2D, // (b, v)
    state: { layers: out.state as LayerState[] },
  };
}

/**
 * A forward through the forward program (classifier heads: probabilities).
 * @param model a model {@linkcode programGpuUnsupported} takes.
 * @param ids (b, l) token ids.
 * @returns the head's output, e.g. (b, c), or null: use `model.forward`.
 */
export function programForward(
  model: MambaModel,
  ids: number[][],
): tf.Tensor | null {
  const out = executorsOf(model).run(
    "forward",
    ids.length,
    ids[0].length,
    ids,
  );
  if (!out) return null;
  out.raw?.dispose();
  return out.output;
}
