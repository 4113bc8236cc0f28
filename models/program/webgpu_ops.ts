/**
 * The WebGPU executor's op table. Each op binds the prebuilt
 * kernels of `kernels/webgpu/` (the same launches as `infer/gpu_forward.ts`)
 * to the executor's buffers, once, when a program is built for a (batch,
 * length). `slice_last` is not here: the executor makes it a view that the
 * scan reads in place (z) or copies with {@linkcode sliceColumnsLaunch}.
 *
 * Glossary: `b` batch, `l` length, `M` = b·l rows, `d` width, `dIn` inner
 * width, `n` state size, `k` conv width.
 *
 * @module
 */
import type { tf } from "../../kernels/backend.ts";
import {
  groupGrid,
  type Launch,
  type Plan,
} from "../../kernels/webgpu/_dispatch.ts";
import { declare } from "../../kernels/webgpu/_wgsl_common.ts";
import { matMulPlan } from "../../kernels/webgpu/matmul.ts";
import { convForwardLaunch } from "../../kernels/webgpu/conv1d.ts";
import { normForwardLaunch } from "../../kernels/webgpu/norm.ts";
import { scanForwardPlan } from "../../kernels/webgpu/scan_kernels.ts";
import { packScanParams } from "../../kernels/webgpu/selective_scan_webgpu.ts";
import {
  addLaunch,
  embedRowsLaunch,
  lastRowsLaunch,
  splitDbcLaunch,
} from "../../kernels/webgpu/_wgsl_rows.ts";
import type { Op } from "./program.ts";
import { activationLaunch, meanPoolLaunch } from "./_wgsl_head.ts";

/** A buffer read in place: floats between rows and the first column. */
export interface Strided {
  buf: GPUBuffer;
  /** Floats between consecutive rows. */
  stride: number;
  /** The first column. */
  offset: number;
}

/** What an op's builder binds with. */
export interface GpuOpContext {
  readonly device: GPUDevice;
  /** A buffer's numeric shape in this build. */
  shape(name: string): number[];
  /** A contiguous input (a view is copied once). */
  input(name: string): GPUBuffer;
  /** An input read in place with its row stride and offset. */
  strided(name: string): Strided;
  /** A parameter or build-time constant as a tfjs tensor, else undefined. */
  constant(name: string): tf.Tensor | undefined;
  /** A build-time tensor, kept until the executor is disposed. */
  keep(t: tf.Tensor): GPUBuffer;
  /** The buffer of one of the op's outputs. */
  output(name: string): GPUBuffer;
  /** A scratch buffer, free again after this op. */
  temp(what: string, floats: number): GPUBuffer;
  /** Records one dispatch. */
  add(label: string, launch: Launch, buffers: GPUBuffer[]): void;
  /** Records a plan's dispatches, its temporaries from the pool. */
  plan(label: string, plan: Plan, named: Record<string, GPUBuffer>): void;
}

/** Binds one op. */
export type GpuOp = (op: Op, ctx: GpuOpContext) => void;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const rows = (shape: number[]) => size(shape.slice(0, -1));
const last = (shape: number[]) => shape[shape.length - 1];

/**
 * `norm` (inputs x, w, bias?) or, fused, `add_norm` (inputs a, b, w, bias?;
 * outputs sum, y): one normForwardLaunch; a missing bias binds the weight.
 */
function norm(op: Op, ctx: GpuOpContext, fused: boolean): void {
  const xs = op.inputs.slice(0, fused ? 2 : 1) as string[];
  const [w, bias] = op.inputs.slice(xs.length);
  const shape = ctx.shape(xs[0]);
  const weight = ctx.input(w!);
  const launch = normForwardLaunch(
    ctx.device,
    rows(shape),
    last(shape),
    fused,
    {
      layer: op.attrs.kind === "layer_norm",
      eps: op.attrs.eps as number,
      hasBias: !!bias,
    },
  );
  const outs = fused ? [op.outputs[1], op.outputs[0]] : [op.outputs[0]];
  ctx.add(fused ? "add + norm" : "norm", launch, [
    ...outs.map((o) => ctx.output(o.name)),
    ...xs.map((x) => ctx.input(x)),
    weight,
    bias ? ctx.input(bias) : weight,
  ]);
}

function matmul(op: Op, ctx: GpuOpContext): void {
  const [x, w, bias] = op.inputs;
  const xShape = ctx.shape(x!);
  const [n, k] = ctx.shape(w!);
  const named: Record<string, GPUBuffer> = {
    out: ctx.output(op.outputs[0].name),
    a: ctx.input(x!),
    w: ctx.input(w!),
  };
  if (bias) named.bias = ctx.input(bias);
  ctx.plan(op.op, matMulPlan(ctx.device, rows(xShape), n, k, !!bias), named);
}

/**
 * `causal_conv_silu` and (with l = 1) `conv_silu_step`: x read in place
 * from its rows (in_proj's output), from a given history or zeros.
 */
function convSilu(op: Op, ctx: GpuOpContext): void {
  const [xIn, w, bias, history] = op.inputs;
  const xShape = ctx.shape(xIn!);
  const [b, l] = op.op === "conv_silu_step" ? [xShape[0], 1] : xShape;
  const [dIn, , k] = ctx.shape(w!);
  const x = ctx.strided(xIn!);
  const weight = ctx.input(w!);
  ctx.add(
    "conv + SiLU",
    convForwardLaunch(ctx.device, [b, l, dIn, k, x.stride, x.offset], {
      hasBias: !!bias,
      hasHist: !!history,
    }),
    [
      ctx.output(op.outputs[0].name),
      ctx.output(op.outputs[1].name),
      x.buf,
      history ? ctx.input(history) : weight,
      weight,
      bias ? ctx.input(bias) : weight,
    ],
  );
}

/**
 * `selective_scan` and (with l = 1) `scan_step`: z read in place, from a
 * given state or zeros; P = [A | D | Δ bias] packed once at build.
 */
function scan(op: Op, ctx: GpuOpContext): void {
  const [u, delta, A, B, C, D, z, deltaBias, state] = op.inputs;
  const uShape = ctx.shape(u!);
  const [b, l, dIn] = op.op === "scan_step"
    ? [uShape[0], 1, uShape[1]]
    : uShape;
  const n = ctx.shape(A!)[1];
  const a = ctx.constant(A!), dC = D ? ctx.constant(D) : undefined;
  const biasC = deltaBias ? ctx.constant(deltaBias) : undefined;
  if (!a || (D && !dC) || (deltaBias && !biasC)) {
    throw new Error(
      `webgpu executor: ${op.op} needs A, D and the Δ bias to be parameters`,
    );
  }
  const P = ctx.keep(
    packScanParams(a as tf.Tensor2D, dC as tf.Tensor1D, biasC as tf.Tensor1D),
  );
  const zs = z ? ctx.strided(z) : undefined;
  const plan = scanForwardPlan(ctx.device, {
    b,
    l,
    dIn,
    N: n,
    hasZ: !!zs,
    softplus: op.attrs.softplus as boolean,
    hasInit: !!state,
    K: 0,
    ...(zs ? { zStride: zs.stride, zOff: zs.offset } : {}),
  });
  const named: Record<string, GPUBuffer> = {
    u: ctx.input(u!),
    dl: ctx.input(delta!),
    P,
    B: ctx.input(B!),
    C: ctx.input(C!),
    y: ctx.output(op.outputs[0].name),
    hend: op.outputs[1]
      ? ctx.output(op.outputs[1].name)
      : ctx.temp("scan state", b * dIn * n),
  };
  if (zs) named.z = zs.buf;
  if (state) named.init = ctx.input(state);
  ctx.plan("scan", plan, named);
}

/** The ops the WebGPU executor binds, by op name. */
export const WEBGPU_OPS: Readonly<Record<string, GpuOp>> = {
  gather: (op, ctx) => {
    const [table, ids] = op.inputs as string[];
    const [v, d] = ctx.shape(table);
    ctx.add(
      "embedding",
      embedRowsLaunch(ctx.device, size(ctx.shape(ids)), d, v),
      [
        ctx.output(op.outputs[0].name),
        ctx.input(table),
        ctx.input(ids),
      ],
    );
  },
  norm: (op, ctx) => norm(op, ctx, false),
  linear: matmul,
  matmul_t: matmul,
  add: (op, ctx) => {
    const [a, b] = op.inputs as string[];
    ctx.add("add", addLaunch(ctx.device, size(ctx.shape(a))), [
      ctx.output(op.outputs[0].name),
      ctx.input(a),
      ctx.input(b),
    ]);
  },
  // Made by fuseForWebGpu: sum = a + b, y = norm(sum), in one dispatch.
  add_norm: (op, ctx) => norm(op, ctx, true),
  // Made by fuseForWebGpu: [Δ-rank r | B n | C n] into three arrays.
  split_dbc: (op, ctx) => {
    const shape = ctx.shape(op.inputs[0]!);
    const [r, n] = [
      last(ctx.shape(op.outputs[0].name)),
      last(ctx.shape(op.outputs[1].name)),
    ];
    ctx.add("split Δ, B, C", splitDbcLaunch(ctx.device, rows(shape), r, n), [
      ...op.outputs.map((o) => ctx.output(o.name)),
      ctx.input(op.inputs[0]!),
    ]);
  },
  pool: (op, ctx) => {
    const h = op.inputs[0]!;
    const [b, l, d] = ctx.shape(h);
    const out = ctx.output(op.outputs[0].name);
    const pooling = op.attrs.pooling;
    if (pooling === "flatten" && l !== op.attrs.seqLen) {
      throw new Error(
        `forward: ids: expected length ${op.attrs.seqLen} (the architecture's seqLen, needed by flatten pooling), received ${l}`,
      );
    }
    const launch = pooling === "last"
      ? lastRowsLaunch(ctx.device, b, l, d)
      : pooling === "mean"
      ? meanPoolLaunch(ctx.device, b, l, d)
      : sliceColumnsLaunch(ctx.device, b, l * d, l * d, 0); // a copy
    ctx.add(`pool (${pooling})`, launch, [out, ctx.input(h)]);
  },
  activate: (op, ctx) => {
    const x = op.inputs[0]!;
    const shape = ctx.shape(x);
    ctx.add(
      `activate (${op.attrs.fn})`,
      activationLaunch(
        ctx.device,
        op.attrs.fn as string,
        size(shape),
        last(shape),
      ),
      [ctx.output(op.outputs[0].name), ctx.input(x)],
    );
  },
  last_position: (op, ctx) => {
    const [b, l, d] = ctx.shape(op.inputs[0]!);
    ctx.add("last rows", lastRowsLaunch(ctx.device, b, l, d), [
      ctx.output(op.outputs[0].name),
      ctx.input(op.inputs[0]!),
    ]);
  },
  causal_conv_silu: convSilu,
  conv_silu_step: convSilu,
  selective_scan: scan,
  scan_step: scan,
};

/**
 * Fuses op patterns the prebuilt kernels run in one dispatch (as the
 * hand-built forward does): `add` then a `norm` of its sum → `add_norm`;
 * three `slice_last` of one source that are [0, r), [r, r+n), [r+n, r+2n)
 * of its r+2n columns → `split_dbc`.
 *
 * @param ops a program's ops in order.
 * @param width a buffer's last-axis size.
 * @returns the ops with those patterns fused.
 */
export function fuseForWebGpu(
  ops: readonly Op[],
  width: (name: string) => number,
): Op[] {
  const out: Op[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i], next = ops[i + 1];
    if (
      op.op === "add" && next?.op === "norm" &&
      next.inputs[0] === op.outputs[0].name
    ) {
      out.push({
        op: "add_norm",
        inputs: [...op.inputs, ...next.inputs.slice(1)],
        outputs: [op.outputs[0], next.outputs[0]],
        attrs: next.attrs,
      });
      i++;
      continue;
    }
    const [s1, s2] = [ops[i + 1], ops[i + 2]];
    const src = op.inputs[0];
    if (
      op.op === "slice_last" && s1?.op === "slice_last" &&
      s2?.op === "slice_last" &&
      s1.inputs[0] === src && s2.inputs[0] === src
    ) {
      const [r, n] = [op.attrs.size as number, s1.attrs.size as number];
      if (
        op.attrs.start === 0 && s1.attrs.start === r &&
        s2.attrs.start === r + n &&
        s2.attrs.size === n && width(src!) === r + 2 * n
      ) {
        out.push({
          op: "split_dbc",
          inputs: [src],
          outputs: [op.outputs[0], s1.outputs[0], s2.outputs[0]],
          attrs: {},
        });
        i += 2;
        continue;
      }
    }
    out.push(op);
  }
  return out;
}

const WORKGROUP = 256;

/**
 * out[r, c] = x[r · stride + offset + c] for r < rows, c < width: a column
 * slice made contiguous. Bindings: out, x; uniforms rows, width, stride,
 * offset, gx.
 */
function sliceColumnsShader(): string {
  return /* wgsl */ `
${
    declare([{ name: "out", write: true }, { name: "x", write: false }], [
      "rows",
      "width",
      "stride",
      "offset",
      "gx",
    ])
  }
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * U.gx + wid.x) * ${WORKGROUP}u + lid.x;
  if (i >= U.rows * U.width) { return; }
  out[i] = x[(i / U.width) * U.stride + U.offset + i % U.width];
}`;
}

/**
 * @param device the device (its grid limit).
 * @returns the launch of a column slice of `rows` rows.
 */
export function sliceColumnsLaunch(
  device: GPUDevice,
  rowCount: number,
  width: number,
  stride: number,
  offset: number,
): Launch {
  const groups = groupGrid(device, Math.ceil(rowCount * width / WORKGROUP));
  return {
    key: "program_slice_columns",
    wgsl: sliceColumnsShader,
    uniforms: [rowCount, width, stride, offset, groups[0]],
    groups,
  };
}
