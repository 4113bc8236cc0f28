/**
 * The WebGPU executor: a forward or prefill {@linkcode Program} bound once,
 * for one (batch, length), to the prebuilt kernels of `kernels/webgpu/` —
 * pipelines, bind groups and buffers made at build, buffers shared by
 * liveness (a buffer whose last reader has run is reused for a later
 * output), ops whose inputs are all parameters folded at build (by the tfjs
 * ops), and one command buffer per call.
 *
 * The model's weights are bound in place (not copied); every call checks
 * that none was reassigned or disposed since the build.
 *
 * Step programs run with the forward kernels at length 1 (the decoder,
 * `infer/gpu_decoder.ts`, has fused ones); the state goes in and out by
 * copies within the call's command buffer. Classifier heads run as WGSL
 * too (pooling, activations). Not bound yet: train programs (dropout,
 * backward).
 *
 * Reference: tinygrad `engine/realize.py` (a schedule replayed); CUDA graphs.
 *
 * @module
 */
import { tf } from "../../kernels/backend.ts";
import {
  allocate,
  flushTfjs,
  gpuBuffer,
  webgpuBackend,
} from "../../kernels/webgpu/_dispatch.ts";
import { checkIdRows } from "../_ids.ts";
import type { TokenIds } from "../types.ts";
import type { Program } from "./program.ts";
import { bindProgram, type Sized, type Step } from "./_webgpu_bind.ts";

/** Options of {@linkcode WebGpuExecutor}. */
export interface WebGpuExecutorOptions {
  /** Sequences per call. */
  batch: number;
  /** Tokens per sequence. */
  length: number;
}

/** What a call returns: new tensors owned by the caller. */
export interface WebGpuRunOutputs {
  /** The program's output, e.g. logits (b, l, v). */
  output: tf.Tensor;
  /** Classifier heads: the scores before the final activation (b, c). */
  raw?: tf.Tensor;
  /** Prefill: the state after the last token, one {conv, ssm} per layer. */
  state: { conv: tf.Tensor; ssm: tf.Tensor }[];
}

/**
 * A program bound to the prebuilt WebGPU kernels for one (batch, length).
 *
 * @example
 * ```ts
 * import { buildModel } from "../model.ts";
 * import { lowerArchitecture } from "./lower.ts";
 * import { WebGpuExecutor } from "./webgpu_executor.ts";
 * import byteLm from "../../examples/byte_lm.ts";
 * const model = buildModel(byteLm); // on the webgpu backend
 * const program = lowerArchitecture(model.resolved, "forward");
 * const exec = new WebGpuExecutor(program, model.params, { batch: 1, length: 3 });
 * const { output } = exec.run([[1, 2, 3]]); // (1, 3, 256), as model.forward
 * exec.dispose();
 * ```
 */
export class WebGpuExecutor {
  /** Sequences per call. */
  readonly batch: number;
  /** Tokens per sequence. */
  readonly length: number;
  /** See {@linkcode WebGpuExecutor.activationBuffers}. */
  #activationBuffers = 0;
  readonly #device: GPUDevice;
  readonly #program: Program;
  readonly #vocab: number;
  readonly #owned: GPUBuffer[] = [];
  readonly #kept: tf.Tensor[] = [];
  #steps: Step[] = [];
  /** The output is written into each call's tensor (not copied). */
  #late = false;
  #outputShape: number[] = [];
  #ids: GPUBuffer | undefined;
  #outputs: Sized[] = [];
  #shared: { name: string; v: tf.Tensor; dataId: object }[] = [];
  /** Step programs: the state inputs, filled by copies at each call. */
  #stateIn: Record<"conv" | "ssm", Sized>[] = [];
  #disposed = false;
  readonly #step: boolean;

  /**
   * Binds every op of `program` for one (batch, length).
   *
   * @param program a forward or prefill program (`lowerArchitecture`).
   * @param params the model's weights by Hugging Face name (webgpu tensors).
   * @param options batch and length.
   * @throws Error when an op has no WebGPU binding, or naming the buffer and
   *   its size when one exceeds the device's storage binding limit.
   */
  constructor(
    program: Program,
    params: ReadonlyMap<string, tf.Tensor>,
    options: WebGpuExecutorOptions,
  ) {
    if (program.mode === "train") {
      throw new Error(
        `WebGpuExecutor: expected a forward, prefill or step program, received ${program.mode}`,
      );
    }
    if (program.mode === "step" && options?.length !== 1) {
      throw new Error(
        `WebGpuExecutor: length: expected 1 for a step program, received ${options?.length}`,
      );
    }
    for (const key of ["batch", "length"] as const) {
      const v = options?.[key];
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(
          `WebGpuExecutor: ${key}: expected a positive integer, received ${v}`,
        );
      }
    }
    this.#step = program.mode === "step";
    const b = this.batch = options.batch;
    const l = this.length = options.length;
    this.#program = program;
    const backend = webgpuBackend();
    this.#device = backend.device;
    this.#vocab = params.get(program.ops[0]?.inputs[0] ?? "")?.shape[0] ?? 0;
    try {
      const bound = bindProgram(program, params, [b, l], {
        owned: this.#owned,
        kept: this.#kept,
      });
      this.#steps = bound.steps;
      this.#ids = bound.ids;
      this.#stateIn = bound.stateIn;
      this.#outputs = bound.outputs;
      this.#late = bound.late;
      this.#outputShape = bound.outputShape;
      this.#shared = bound.shared;
      this.#activationBuffers = bound.activationBuffers;
      flushTfjs(backend); // folded constants are computed before any call
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /**
   * Runs the program: uploads the ids, records every dispatch into one
   * compute pass, copies the outputs into new tensors, submits once.
   *
   * @param ids (batch, length) token ids (rows checked), or an int32 tensor;
   *   step programs: (batch) ids, one per sequence.
   * @param state step programs: the state after the previous token, one
   *   {conv, ssm} per layer (left intact).
   * @returns the output and (prefill, step) the state.
   * @throws Error naming the ids' or the state's problem, or when disposed or
   *   a weight changed since the build.
   */
  run(
    ids: TokenIds | number[] | tf.Tensor1D,
    state?: readonly { conv: tf.Tensor; ssm: tf.Tensor }[],
  ): WebGpuRunOutputs {
    if (this.#disposed) throw new Error("WebGpuExecutor: used after dispose()");
    const changed = this.#shared.find(({ v, dataId }) =>
      v.isDisposed || v.dataId !== dataId
    );
    if (changed) {
      throw new Error(
        `WebGpuExecutor: weight ${changed.name} was reassigned or disposed after the build; build a new executor`,
      );
    }
    this.#checkState(state);
    const backend = webgpuBackend();
    const device = this.#device;
    const lateInfo = this.#late ? allocate(backend, this.#outputShape) : null;
    const lateBuf = lateInfo ? gpuBuffer(backend, lateInfo) : null;
    const infos = this.#outputs.map((o) => allocate(backend, o.shape));
    // Every input's GPU buffer first: a tensor still on the CPU is uploaded
    // through tfjs's pending command encoder, which the flush below submits
    // before this call's.
    const idsIn = this.#idsSource(this.#rows(ids));
    const stateIn = this.#stateIn.map((_, i) => ({
      conv: gpuBuffer(backend, state![i].conv),
      ssm: gpuBuffer(backend, state![i].ssm),
    }));
    flushTfjs(backend);
    const encoder = device.createCommandEncoder();
    if (idsIn.buffer) {
      encoder.copyBufferToBuffer(
        idsIn.buffer,
        0,
        this.#ids!,
        0,
        4 * this.batch * this.length,
      );
    } else {
      device.queue.writeBuffer(this.#ids!, 0, idsIn.values!);
    }
    this.#stateIn.forEach((pair, i) => {
      for (const key of ["conv", "ssm"] as const) {
        encoder.copyBufferToBuffer(
          stateIn[i][key],
          0,
          pair[key].buf,
          0,
          4 * size(pair[key].shape),
        );
      }
    });
    const pass = encoder.beginComputePass();
    for (const s of this.#steps) {
      pass.setPipeline(s.pipe);
      pass.setBindGroup(
        0,
        typeof s.group === "function" ? s.group(lateBuf!) : s.group,
      );
      pass.dispatchWorkgroups(...s.groups);
    }
    pass.end();
    this.#outputs.forEach((o, i) => {
      encoder.copyBufferToBuffer(
        o.buf,
        0,
        gpuBuffer(backend, infos[i]),
        0,
        4 * size(o.shape),
      );
    });
    device.queue.submit([encoder.finish()]);
    idsIn.cast?.dispose();
    const outs = infos.map((info) =>
      tf.engine().makeTensorFromTensorInfo(info)
    );
    const output = lateInfo
      ? tf.engine().makeTensorFromTensorInfo(lateInfo)
      : outs.shift()!;
    const raw = this.#program.raw ? outs.shift() : undefined;
    const states = outs;
    const next = [];
    for (let j = 0; j < states.length; j += 2) {
      next.push({ conv: states[j], ssm: states[j + 1] });
    }
    return { output, ...(raw ? { raw } : {}), state: next };
  }

  /** GPU buffers made for activations (shared by liveness), for tests. */
  get activationBuffers(): number {
    return this.#activationBuffers;
  }

  /** Dispatches per call (for comparisons with the hand-built forward). */
  get dispatches(): number {
    return this.#steps.length;
  }

  /** Frees the executor's buffers and folded constants (not the weights). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const buf of this.#owned) buf.destroy();
    tf.dispose(this.#kept);
  }

  /** A step's (b) ids as (b, 1) rows; other ids as they are. */
  #rows(ids: TokenIds | number[] | tf.Tensor1D): TokenIds {
    if (!this.#step) return ids as TokenIds;
    if (ids instanceof tf.Tensor) {
      return ids.rank === 1
        ? ids.reshape([-1, 1]) as tf.Tensor2D
        : ids as tf.Tensor2D;
    }
    return (ids as unknown[]).map((i) =>
      Array.isArray(i) ? i : [i]
    ) as number[][];
  }

  #checkState(state?: readonly { conv: tf.Tensor; ssm: tf.Tensor }[]): void {
    if (this.#stateIn.length === 0) return;
    if (!state || state.length !== this.#stateIn.length) {
      throw new Error(
        `WebGpuExecutor: state: expected ${this.#stateIn.length} layers, received ${state?.length}`,
      );
    }
    this.#stateIn.forEach((pair, i) => {
      for (const key of ["conv", "ssm"] as const) {
        const t = state[i][key];
        if (t?.shape.join() !== pair[key].shape.join()) {
          throw new Error(
            `WebGpuExecutor: state.layers[${i}].${key}: expected shape [${
              pair[key].shape
            }], received [${t?.shape}]`,
          );
        }
      }
    });
  }

  /**
   * The ids' source: a tensor's GPU buffer (its shape checked; its range is
   * not, the embedding clamps), or checked rows as values to write.
   */
  #idsSource(
    ids: TokenIds,
  ): {
    buffer?: GPUBuffer;
    values?: Int32Array<ArrayBuffer>;
    cast?: tf.Tensor;
  } {
    const what = "WebGpuExecutor: ids";
    const expect =
      `expected shape [${this.batch}, ${this.length}] (the executor was built for it)`;
    if (ids instanceof tf.Tensor) {
      if (
        ids.rank !== 2 || ids.shape[0] !== this.batch ||
        ids.shape[1] !== this.length
      ) {
        throw new Error(`${what}: ${expect}, received [${ids.shape}]`);
      }
      const asInt = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
      return {
        buffer: gpuBuffer(webgpuBackend(), asInt),
        ...(asInt !== ids ? { cast: asInt } : {}),
      };
    }
    const flat = checkIdRows(ids, this.#vocab, what);
    if (ids.length !== this.batch || flat.length !== this.batch * this.length) {
      throw new Error(
        `${what}: ${expect}, received [${ids.length}, ${
          flat.length / ids.length
        }]`,
      );
    }
    return { values: flat };
  }
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
