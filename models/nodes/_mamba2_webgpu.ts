/**
 * Private: the Mamba-2 ops' bindings to the prebuilt WebGPU kernels
 * (`../../kernels/webgpu/ssd.ts`), the `webgpuOps` of the `mamba2` mixer
 * kind: `ssd` (the chunked forward, from zeros or a given state, the final
 * state when asked), `ssd_step` (one token) and `gated_rms_norm`; and an
 * binding of Falcon-Mamba's `rms_unit` (registered by the `mamba` kind). x, dt, B, C, z and the
 * norms' inputs are read in place from in_proj's and the conv's rows; P = [A | D |
 * dtBias] is packed once at build.
 *
 * Glossary: `b` batch, `l` length, `h` heads, `p` head dim, `g` groups,
 * `n` state size, `dIn` = h·p.
 *
 * @module
 */
import type { tf } from "../../kernels/backend.ts";
import {
  gatedNormLaunch,
  packSsdParams,
  ssdForwardPlan,
  ssdStepLaunch,
} from "../../kernels/webgpu/ssd.ts";
import type { GpuOp, GpuOpContext } from "../program/webgpu_ops.ts";
import type { Op } from "../program/program.ts";

/** P (h, 3) = [A | D | dtBias] as a kept GPU buffer (each a build constant). */
function params(op: Op, ctx: GpuOpContext): GPUBuffer {
  const [, , A, , , D, dtBias] = op.inputs;
  const a = ctx.constant(A!);
  const d = D ? ctx.constant(D) : undefined;
  const bias = dtBias ? ctx.constant(dtBias) : undefined;
  if (!a || (D && !d) || (dtBias && !bias)) {
    throw new Error(
      `webgpu executor: ${op.op} needs A, D and dt_bias to be parameters (${
        op.outputs[0].name
      })`,
    );
  }
  return ctx.keep(
    packSsdParams(a as tf.Tensor1D, d as tf.Tensor1D, bias as tf.Tensor1D),
  );
}

/** Row layout of an input read in place. */
function rowsOf(ctx: GpuOpContext, name: string) {
  const s = ctx.strided(name);
  return { buf: s.buf, rows: { stride: s.stride, offset: s.offset } };
}

const ssd: GpuOp = (op, ctx) => {
  const [xN, dtN, , BN, CN, , , stateN] = op.inputs;
  const [b, l, dIn] = ctx.shape(xN!);
  const h = op.attrs.heads as number, g = op.attrs.groups as number;
  const n = ctx.shape(BN!)[2] / g;
  const [x, dt, B, C] = [xN, dtN, BN, CN].map((name) => rowsOf(ctx, name!));
  const hi = op.attrs.dtHi === null ? Infinity : op.attrs.dtHi as number;
  const plan = ssdForwardPlan(ctx.device, {
    b,
    l,
    h,
    p: dIn / h,
    g,
    n,
    chunk: op.attrs.chunkSize as number,
    x: x.rows,
    dt: dt.rows,
    B: B.rows,
    C: C.rows,
    dtLimit: [op.attrs.dtLo as number, hi],
    hasInit: !!stateN,
  });
  const named: Record<string, GPUBuffer> = {
    y: ctx.output(op.outputs[0].name),
    fin: op.outputs[1]
      ? ctx.output(op.outputs[1].name)
      : ctx.temp("ssd state", b * dIn * n),
    x: x.buf,
    dt: dt.buf,
    B: B.buf,
    C: C.buf,
    P: params(op, ctx),
  };
  if (stateN) named.init = ctx.input(stateN);
  ctx.plan("ssd", plan, named);
};

const ssdStep: GpuOp = (op, ctx) => {
  const [xN, dtN, , BN, CN, , , stateN] = op.inputs;
  const [b, dIn, n] = ctx.shape(stateN!);
  const h = ctx.shape(dtN!)[1];
  const g = ctx.shape(BN!)[1] / n;
  const [x, dt, B, C] = [xN, dtN, BN, CN].map((name) => rowsOf(ctx, name!));
  const launch = ssdStepLaunch(ctx.device, {
    b,
    h,
    p: dIn / h,
    g,
    n,
    x: x.rows,
    dt: dt.rows,
    B: B.rows,
    C: C.rows,
  });
  ctx.add("ssd step", launch, [
    ctx.output(op.outputs[0].name),
    ctx.output(op.outputs[1].name),
    x.buf,
    dt.buf,
    params(op, ctx),
    B.buf,
    C.buf,
    ctx.input(stateN!),
  ]);
};

const gatedNorm: GpuOp = (op, ctx) => {
  const [yN, zN, wN] = op.inputs;
  const shape = ctx.shape(yN!);
  const d = shape[shape.length - 1];
  const [y, z] = [rowsOf(ctx, yN!), rowsOf(ctx, zN!)];
  const launch = gatedNormLaunch(ctx.device, {
    rows: shape.reduce((a, v) => a * v, 1) / d,
    d,
    size: op.attrs.groupSize as number,
    eps: op.attrs.eps as number,
    y: y.rows,
    z: z.rows,
    hasW: true,
  });
  ctx.add("gated RMSNorm", launch, [
    ctx.output(op.outputs[0].name),
    y.buf,
    z.buf,
    ctx.input(wN!),
  ]);
};

/**
 * A WebGPU binding of Falcon-Mamba's `rms_unit` (x / √(mean(x²) + eps), no
 * weight), x read in place; the `mamba` kind registers it for its
 * `bcdtRmsEps` norms on B, C and Δ.
 */
export const rmsUnitWebGpuOp: GpuOp = (op, ctx) => {
  const shape = ctx.shape(op.inputs[0]!);
  const d = shape[shape.length - 1];
  const x = rowsOf(ctx, op.inputs[0]!);
  const launch = gatedNormLaunch(ctx.device, {
    rows: shape.reduce((a, v) => a * v, 1) / d,
    d,
    size: d,
    eps: op.attrs.eps as number,
    y: x.rows,
    hasW: false,
  });
  ctx.add("RMS (no weight)", launch, [
    ctx.output(op.outputs[0].name),
    x.buf,
    x.buf,
    x.buf,
  ]);
};

/** The `mamba2` mixer's WebGPU bindings, by op name. */
export const MAMBA2_WEBGPU_OPS: Readonly<Record<string, GpuOp>> = {
  ssd,
  ssd_step: ssdStep,
  gated_rms_norm: gatedNorm,
};
