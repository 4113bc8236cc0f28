/**
 * Private: binds a program to the prebuilt WebGPU kernels for one (batch,
 * length) — the WebGPU executor's build. Parameters are bound in place; ops
 * whose inputs are all parameters are folded by the tfjs ops; `slice_last`
 * becomes a view (read in place, or copied once when an op needs it
 * contiguous); fused patterns (`fuseForWebGpu`); every other op bound by its
 * entry in `WEBGPU_OPS` or a node kind's `webgpuOps`; activation buffers
 * taken from a pool and returned after their last reader (liveness).
 *
 * @module
 */
import { tf } from "../../kernels/backend.ts";
import {
  bindGroup,
  gpuBuffer,
  type Launch,
  pipeline,
  uniformWords,
  webgpuBackend,
} from "../../kernels/webgpu/_dispatch.ts";
import { registeredOps, registeredWebGpuOps } from "../nodes/registry.ts";
import { bindShape, type Program } from "./program.ts";
import { defaultLinear, TFJS_OPS } from "./tfjs_ops.ts";
import {
  fuseForWebGpu,
  type GpuOpContext,
  sliceColumnsLaunch,
  WEBGPU_OPS,
} from "./webgpu_ops.ts";

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** One prebuilt dispatch. */
export interface Step {
  /** What it does, for profiles. */
  label: string;
  /** Its pipeline. */
  pipe: GPUComputePipeline;
  /** Prebuilt, or made per call for the tensor the output is written to. */
  group: GPUBindGroup | ((output: GPUBuffer) => GPUBindGroup);
  /** Its workgroup grid. */
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

/** A GPU buffer with the numeric shape it holds. */
export interface Sized {
  /** The buffer. */
  buf: GPUBuffer;
  /** Its shape in this build. */
  shape: number[];
}

/** A program bound for one (batch, length). */
export interface BoundProgram {
  /** The dispatches, in order. */
  steps: Step[];
  /** The ids input (u32). */
  ids: GPUBuffer;
  /** Step programs: the state inputs, filled by copies at each call. */
  stateIn: Record<"conv" | "ssm", Sized>[];
  /** Buffers copied out at each call: the output (unless `late`), raw, states. */
  outputs: Sized[];
  /** The output is written straight into each call's tensor. */
  late: boolean;
  /** The output's shape. */
  outputShape: number[];
  /** Parameters bound in place, with the data they had. */
  shared: { name: string; v: tf.Tensor; dataId: object }[];
  /** Activation buffers made (shared by liveness). */
  activationBuffers: number;
}

/**
 * Binds `program` for batch `b` and length `l`.
 *
 * @param owned receives every GPU buffer made (the caller destroys them).
 * @param kept receives every tensor made at build (the caller disposes them).
 * @returns the bound program.
 * @throws Error when an op has no WebGPU binding, or naming the buffer and
 *   its size when one exceeds the device's storage binding limit.
 */
export function bindProgram(
  program: Program,
  params: ReadonlyMap<string, tf.Tensor>,
  [b, l]: [number, number],
  { owned, kept }: { owned: GPUBuffer[]; kept: tf.Tensor[] },
): BoundProgram {
  const backend = webgpuBackend();
  const device = backend.device;
  const steps: Step[] = [];
  const stateIns: Record<"conv" | "ssm", Sized>[] = [];
  const shared: BoundProgram["shared"] = [];
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
    owned.push(buf);
    return buf;
  };

  // Constants: parameters, and ops whose inputs are all constants
  // (−exp(A_log)), computed once here by the tfjs ops.
  const constants = new Map<string, tf.Tensor>();
  for (const name of program.params.keys()) {
    const v = params.get(name);
    if (!v) throw new Error(`WebGpuExecutor: missing parameter ${name}`);
    constants.set(name, v);
    shapes.set(name, v.shape);
    shared.push({ name, v, dataId: v.dataId });
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
      kept.push(outs[i]);
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
  const ids = create("ids", b * l);
  bound.set(program.ids.name, { kind: "buffer", buf: ids });
  for (const s of program.stateIn) {
    const pair = [s.conv, s.ssm].map((x) => {
      const shape = shapeOf(x.name);
      const buf = create(x.name, size(shape));
      bound.set(x.name, { kind: "buffer", buf });
      return { buf, shape };
    });
    stateIns.push({ conv: pair[0], ssm: pair[1] });
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
    steps.push({
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
          kept.push(t);
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
  return {
    steps,
    ids,
    stateIn: stateIns,
    outputs: (late ? keepForever.slice(1) : keepForever).map((buf) => ({
      buf: resolve(buf.name).buf,
      shape: shapeOf(buf.name),
    })),
    late,
    outputShape: shapeOf(program.output.name),
    shared,
    activationBuffers: made,
  };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const last = (shape: number[]) => shape[shape.length - 1];
