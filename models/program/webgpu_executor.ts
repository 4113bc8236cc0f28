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
  bindGroup,
  flushTfjs,
  gpuBuffer,
  type Launch,
  pipeline,
  uniformWords,
  webgpuBackend,
} from "../../kernels/webgpu/_dispatch.ts";
import { checkIdRows } from "../_ids.ts";
import type { TokenIds } from "../types.ts";
import { bindShape, type Program } from "./program.ts";
import { defaultLinear, TFJS_OPS } from "./tfjs_ops.ts";
import { registeredOps, registeredWebGpuOps } from "../nodes/registry.ts";
import {
  fuseForWebGpu,
  type GpuOpContext,
  sliceColumnsLaunch,
  WEBGPU_OPS,
} from "./webgpu_ops.ts";

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** One prebuilt dispatch. */
interface Step {
  label: string;
  pipe: GPUComputePipeline;
  /** Prebuilt, or made per call for the tensor the output is written to. */
  group: GPUBindGroup | ((output: GPUBuffer) => GPUBindGroup);
  groups: [number, number, number];
}

/** A buffer of the build: its own GPU buffer, or a column view of another. */
type Bound =
  | { kind: "buffer"; buf: GPUBuffer }
  | {
    kind: "view";
    src: string;
    start: number;
    width: number;
    copy?: GPUBuffer;
  };

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
  /** GPU buffers made for activations (shared by liveness), for tests. */
  readonly activationBuffers: number;
  readonly #device: GPUDevice;
  readonly #program: Program;
  readonly #vocab: number;
  readonly #owned: GPUBuffer[] = [];
  readonly #kept: tf.Tensor[] = [];
  readonly #steps: Step[] = [];
  /** The output is written into each call's tensor (not copied). */
  #late = false;
  #outputShape: number[] = [];
  readonly #ids: GPUBuffer;
  readonly #outputs: { buf: GPUBuffer; shape: number[] }[] = [];
  readonly #shared: { name: string; v: tf.Tensor; dataId: object }[] = [];
  /** Step programs: the state inputs, filled by copies at each call. */
  readonly #stateIn: Record<
    "conv" | "ssm",
    { buf: GPUBuffer; shape: number[] }
  >[] = [];
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
    const device = this.#device = backend.device;
    this.#vocab = params.get(program.ops[0]?.inputs[0] ?? "")?.shape[0] ?? 0;
    const limit = device.limits.maxStorageBufferBindingSize;
    const shapes = new Map<string, number[]>();
    const shapeOf = (name: string) => shapes.get(name)!;
    const create = (what: string, floats: number, usage = STORAGE) => {
      const bytes = Math.max(16, 4 * floats);
      if (bytes > limit) {
        throw new RangeError(
          `WebGpuExecutor: ${what} needs a ${bytes}-byte storage binding at batch ${b}, length ${l}; the device's limit is ${limit}`,
        );
      }
      const buf = device.createBuffer({ size: bytes, usage });
      this.#owned.push(buf);
      return buf;
    };

    try {
      // Constants: parameters, and ops whose inputs are all constants
      // (−exp(A_log)), computed once here by the tfjs ops.
      const constants = new Map<string, tf.Tensor>();
      for (const name of program.params.keys()) {
        const v = params.get(name);
        if (!v) throw new Error(`WebGpuExecutor: missing parameter ${name}`);
        constants.set(name, v);
        shapes.set(name, v.shape);
        this.#shared.push({ name, v, dataId: v.dataId });
      }
      const tfjsOps = { ...TFJS_OPS, ...registeredOps() };
      const env = { linear: defaultLinear, seed: 0 };
      const folded = program.ops.filter((op) => {
        const folds = op.inputs.every((i) => i === null || constants.has(i));
        if (!folds) return true;
        const outs = tf.tidy(() =>
          tfjsOps[op.op](
            op.inputs.map((i) => i === null ? undefined : constants.get(i)),
            op.attrs,
            env,
          ).map((t) => tf.keep(t))
        );
        op.outputs.forEach((o, i) => {
          constants.set(o.name, outs[i]);
          shapes.set(o.name, outs[i].shape);
          this.#kept.push(outs[i]);
        });
        return false;
      });
      for (const op of folded) {
        for (const o of op.outputs) {
          shapes.set(o.name, bindShape(o.shape, b, l));
        }
      }
      shapes.set(program.ids.name, bindShape(program.ids.shape, b, l));
      for (const s of program.stateIn) {
        for (const buf of [s.conv, s.ssm]) {
          shapes.set(buf.name, bindShape(buf.shape, b, l));
        }
      }
      const live = fuseForWebGpu(folded, (name) => last(shapeOf(name)));

      // Liveness: the last op that reads each buffer (views keep their
      // source alive); program outputs live for ever.
      const lastUse = new Map<string, number>();
      const viewSource = new Map<string, string>();
      live.forEach((op, i) => {
        for (const input of op.inputs) if (input) lastUse.set(input, i);
        if (op.op === "slice_last") {
          viewSource.set(op.outputs[0].name, op.inputs[0]!);
        }
      });
      const keepForever = [
        program.output,
        ...(program.raw ? [program.raw] : []),
        ...program.stateOut.flatMap((s) => [s.conv, s.ssm]),
      ];
      for (const buf of keepForever) lastUse.set(buf.name, Infinity);
      for (let i = live.length - 1; i >= 0; i--) {
        const op = live[i];
        if (op.op !== "slice_last") continue;
        const view = op.outputs[0].name, src = op.inputs[0]!;
        lastUse.set(
          src,
          Math.max(lastUse.get(src) ?? i, lastUse.get(view) ?? i),
        );
      }
      const dies = new Map<number, string[]>();
      const inputs = new Set([
        program.ids.name,
        ...program.stateIn.flatMap((s) => [s.conv.name, s.ssm.name]),
      ]);
      for (const [name, i] of lastUse) {
        if (constants.has(name) || inputs.has(name)) continue;
        dies.set(i, [...(dies.get(i) ?? []), name]);
      }

      // The pool: a free buffer at least as large, else a new one.
      const free: GPUBuffer[] = [];
      let made = 0;
      const take = (what: string, floats: number): GPUBuffer => {
        const bytes = Math.max(16, 4 * floats);
        let best = -1;
        free.forEach((buf, j) => {
          if (buf.size >= bytes && (best < 0 || buf.size < free[best].size)) {
            best = j;
          }
        });
        if (best >= 0) return free.splice(best, 1)[0];
        made++;
        return create(what, floats);
      };
      const bound = new Map<string, Bound>();
      this.#ids = create("ids", b * l);
      bound.set(program.ids.name, { kind: "buffer", buf: this.#ids });
      for (const s of program.stateIn) {
        const pair = [s.conv, s.ssm].map((x) => {
          const shape = shapeOf(x.name);
          const buf = create(x.name, size(shape));
          bound.set(x.name, { kind: "buffer", buf });
          return { buf, shape };
        });
        this.#stateIn.push({ conv: pair[0], ssm: pair[1] });
      }
      const uniform = (values: number[]) => {
        const data = uniformWords(values);
        const buf = create(
          "uniforms",
          data.length,
          GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        );
        device.queue.writeBuffer(buf, 0, data);
        return buf;
      };
      // The program's output, when no op reads it, is written straight into
      // each call's tensor: its writers' bind groups are made per call.
      const late = !live.some((op) => op.inputs.includes(program.output.name));
      const placeholder = late ? create("output placeholder", 4) : null;
      const add = (label: string, launch: Launch, buffers: GPUBuffer[]) => {
        const pipe = pipeline(device, launch.key, launch.wgsl);
        const all = [...buffers, uniform(launch.uniforms)];
        this.#steps.push({
          label,
          pipe,
          group: placeholder && all.includes(placeholder)
            ? (out) =>
              bindGroup(
                device,
                pipe,
                all.map((b) => b === placeholder ? out : b),
              )
            : bindGroup(device, pipe, all),
          groups: launch.groups,
        });
      };
      const constantBuffer = (name: string) => {
        const t = constants.get(name);
        return t ? gpuBuffer(backend, t) : undefined;
      };
      const resolve = (
        name: string,
      ): { buf: GPUBuffer; stride: number; offset: number } => {
        const c = constantBuffer(name);
        if (c) return { buf: c, stride: last(shapeOf(name)), offset: 0 };
        const entry = bound.get(name);
        if (!entry) {
          throw new Error(
            `WebGpuExecutor: ${name} is read before it is written`,
          );
        }
        if (entry.kind === "buffer") {
          return { buf: entry.buf, stride: last(shapeOf(name)), offset: 0 };
        }
        const src = resolve(entry.src);
        return {
          buf: src.buf,
          stride: src.stride,
          offset: src.offset + entry.start,
        };
      };

      live.forEach((op, i) => {
        const temps: GPUBuffer[] = [];
        if (op.op === "slice_last") {
          bound.set(op.outputs[0].name, {
            kind: "view",
            src: op.inputs[0]!,
            start: op.attrs.start as number,
            width: op.attrs.size as number,
          });
        } else {
          const impl = WEBGPU_OPS[op.op] ?? registeredWebGpuOps()[op.op];
          if (!impl) {
            throw new Error(
              `WebGpuExecutor: no WebGPU binding of op ${op.op} (${
                op.outputs[0]?.name
              })`,
            );
          }
          const ctx: GpuOpContext = {
            device,
            shape: shapeOf,
            strided: resolve,
            input: (name) => {
              const entry = bound.get(name);
              if (entry?.kind !== "view") return resolve(name).buf;
              if (!entry.copy) {
                const src = resolve(name);
                const shape = shapeOf(name);
                const rowCount = size(shape) / entry.width;
                entry.copy = take(name, size(shape));
                add(
                  "slice",
                  sliceColumnsLaunch(
                    device,
                    rowCount,
                    entry.width,
                    src.stride,
                    src.offset,
                  ),
                  [
                    entry.copy,
                    src.buf,
                  ],
                );
              }
              return entry.copy;
            },
            constant: (name) => constants.get(name),
            keep: (t) => {
              this.#kept.push(t);
              return gpuBuffer(backend, t);
            },
            output: (name) => {
              const entry = bound.get(name);
              if (entry?.kind === "buffer") return entry.buf;
              const buf = placeholder && name === program.output.name
                ? placeholder
                : take(name, size(shapeOf(name)));
              bound.set(name, { kind: "buffer", buf });
              return buf;
            },
            temp: (what, floats) => {
              const buf = take(what, floats);
              temps.push(buf);
              return buf;
            },
            add,
            plan: (label, plan, named) => {
              const all: Record<string, GPUBuffer> = { ...named };
              for (const [name, shape] of Object.entries(plan.temps)) {
                all[name] = ctx.temp(`${label} ${name}`, size(shape));
              }
              for (const s of plan.steps) {
                add(
                  label,
                  s.launch,
                  s.buffers.map((x) => all[x]),
                );
              }
            },
          };
          impl(op, ctx);
        }
        // Free what no later op reads: temporaries, dead inputs, unread outputs.
        free.push(...temps);
        const release = (name: string) => {
          const entry = bound.get(name);
          if (!entry) return;
          if (entry.kind === "buffer") free.push(entry.buf);
          else if (entry.copy) free.push(entry.copy);
          bound.delete(name);
        };
        for (const name of dies.get(i) ?? []) release(name);
        for (const o of op.outputs) if (!lastUse.has(o.name)) release(o.name);
      });
      this.activationBuffers = made;
      this.#outputShape = shapeOf(program.output.name);
      this.#late = late;
      for (const buf of late ? keepForever.slice(1) : keepForever) {
        this.#outputs.push({
          buf: resolve(buf.name).buf,
          shape: shapeOf(buf.name),
        });
      }
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
        this.#ids,
        0,
        4 * this.batch * this.length,
      );
    } else {
      device.queue.writeBuffer(this.#ids, 0, idsIn.values!);
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
const last = (shape: number[]) => shape[shape.length - 1];
