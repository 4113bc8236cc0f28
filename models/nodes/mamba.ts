/**
 * Mixer kind `mamba` (Mamba-1): in_proj → causal depthwise conv1d → SiLU →
 * x_proj → dt_proj → softplus → selective scan (+ D·x) → · SiLU(z) →
 * out_proj (Falcon-Mamba, with `bcdtRmsEps`: weightless RMS norms on Δ's
 * input, B and C after x_proj), lowered for every mode, with its recurrent state
 * {conv (b, k-1, dIn), ssm (b, dIn, n)}.
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` inner width,
 * `n` state size, `r` dt rank, `k` conv width.
 *
 * Parameters under `backbone.layers.{i}.mixer` (Hugging Face names, torch
 * layouts), initialised as the official `Mamba.__init__`: in_proj (2·dIn, d),
 * conv1d (dIn, 1, k) [+ bias], x_proj (r + 2n, dIn), dt_proj (dIn, r) with
 * the dt-range bias, A_log (dIn, n) = log(1…n), D (dIn) = 1, out_proj
 * (d, dIn) rescaled by 1/√nLayers [+ in/out biases = 0].
 *
 * Reference: state-spaces/mamba `modules/mamba_simple.py` (`Mamba.__init__`,
 * `Mamba.forward`, `Mamba.step`); Hugging Face `MambaMixer.slow_forward`.
 *
 * @module
 */
import type { ResolvedMixer } from "../../dsl/resolve.ts";
import type { Buf, Shape } from "../program/program.ts";
import type { MixerKind, ParamSpec } from "./node_kind.ts";
import { constant, dtBiasInit, optionalBiases, uniform } from "./_init.ts";
import { SSM_OPS } from "./_ssm_ops.ts";
import { mixerLowering } from "./_lower_util.ts";
import { rmsUnitWebGpuOp } from "./_mamba2_webgpu.ts";

type Mamba = Extract<ResolvedMixer, { kind: "mamba" }>;

/** Falcon-Mamba's op (`bcdtRmsEps`): x / √(mean(x²) + eps), no weight. */
const FALCON_OPS = { rms_unit: SSM_OPS.rms_unit };

function params(m: Mamba, d: number, nLayers: number, p: string) {
  const dIn = m.dInner, n = m.dState, r = m.dtRankValue, k = m.dConv;
  const specs: Record<string, ParamSpec> = {
    [`${p}.in_proj.weight`]: {
      shape: [2 * dIn, d],
      init: uniform(1 / Math.sqrt(d)),
    },
    [`${p}.conv1d.weight`]: {
      shape: [dIn, 1, k],
      init: uniform(1 / Math.sqrt(k)),
    },
    [`${p}.x_proj.weight`]: {
      shape: [r + 2 * n, dIn],
      init: uniform(1 / Math.sqrt(dIn)),
    },
    [`${p}.dt_proj.weight`]: {
      shape: [dIn, r],
      init: m.dtInit === "constant"
        ? constant(r ** -0.5 * m.dtScale)
        : uniform(r ** -0.5 * m.dtScale),
    },
    [`${p}.dt_proj.bias`]: {
      shape: [dIn],
      init: dtBiasInit(m),
    },
    [`${p}.A_log`]: {
      shape: [dIn, n],
      init: (_rng, size) => {
        const out = new Float32Array(size);
        for (let i = 0; i < size; i++) out[i] = Math.log((i % n) + 1);
        return out;
      },
    },
    [`${p}.D`]: { shape: [dIn], init: constant(1) },
    [`${p}.out_proj.weight`]: {
      shape: [d, dIn],
      init: uniform(1 / Math.sqrt(dIn) / Math.sqrt(nLayers)),
    },
  };
  return {
    ...specs,
    ...optionalBiases(p, m, { conv: dIn, inProj: 2 * dIn, d, k }),
  };
}

/** The Mamba-1 mixer (Falcon-Mamba with `bcdtRmsEps`). */
export const mambaKind: MixerKind<Mamba> = {
  ops: FALCON_OPS,
  webgpuOps: { rms_unit: rmsUnitWebGpuOp },
  params: (m, { resolved, prefix }) =>
    params(m, resolved.dModel, resolved.layers.length, prefix),
  stateShape: (m) => ({
    conv: ["b", m.dConv - 1, m.dInner],
    ssm: ["b", m.dInner, m.dState],
  }),
  lower: (m, x, ctx, state) => {
    const dIn = m.dInner, n = m.dState, r = m.dtRankValue;
    const p = ctx.prefix;
    const w = (name: string) => ctx.param(`${p}.${name}`);
    const step = ctx.mode === "step";
    const { at, op1 } = mixerLowering(x, ctx);

    const xz = op1(
      "linear",
      [x, w("in_proj.weight"), ctx.maybeParam(`${p}.in_proj.bias`)],
      "xz",
      at(2 * dIn),
    ); // (b, l, 2·dIn)
    const z = op1("slice_last", [xz], "z", at(dIn), { start: dIn, size: dIn }); // (b, l, dIn)
    const convShape: Shape = ["b", m.dConv - 1, dIn];
    let u: Buf, convState: Buf;
    if (step) {
      const xIn = op1("slice_last", [xz], "x", at(dIn), {
        start: 0,
        size: dIn,
      }); // (b, dIn)
      [u, convState] = ctx.op(
        "conv_silu_step",
        [
          xIn,
          w("conv1d.weight"),
          ctx.maybeParam(`${p}.conv1d.bias`),
          state!.conv,
        ],
        [["u", at(dIn)], ["conv_state", convShape]],
      ); // (b, dIn), (b, k-1, dIn)
    } else {
      [u, convState] = ctx.op(
        "causal_conv_silu",
        [xz, w("conv1d.weight"), ctx.maybeParam(`${p}.conv1d.bias`)],
        [["u", at(dIn)], ["conv_state", convShape]],
      ); // (b, l, dIn), (b, k-1, dIn)
    }
    const dbc = op1("linear", [u, w("x_proj.weight")], "dbc", at(r + 2 * n)); // (b, l, r + 2n)
    let dt = op1("slice_last", [dbc], "dt", at(r), { start: 0, size: r }); // (b, l, r)
    let B = op1("slice_last", [dbc], "B", at(n), { start: r, size: n }); // (b, l, n)
    let C = op1("slice_last", [dbc], "C", at(n), { start: r + n, size: n }); // (b, l, n)
    if (m.bcdtRmsEps !== undefined) { // Falcon-Mamba: weightless RMS norms
      const eps = { eps: m.bcdtRmsEps };
      dt = op1("rms_unit", [dt], "dt_normed", at(r), eps); // (b, l, r)
      B = op1("rms_unit", [B], "B_normed", at(n), eps); // (b, l, n)
      C = op1("rms_unit", [C], "C_normed", at(n), eps); // (b, l, n)
    }
    const delta = op1("linear", [dt, w("dt_proj.weight")], "delta", at(dIn)); // (b, l, dIn), bias in the scan
    const A = op1("neg_exp", [w("A_log")], "A", [dIn, n]); // (dIn, n)
    const scanIn = [u, delta, A, B, C, w("D"), z, w("dt_proj.bias")];
    const ssmShape: Shape = ["b", dIn, n];
    let y: Buf, ssm: Buf | undefined;
    if (step) {
      [y, ssm] = ctx.op(
        "scan_step",
        [...scanIn, state!.ssm],
        [["scan_y", at(dIn)], ["ssm_state", ssmShape]],
        { softplus: true },
      ); // (b, dIn), (b, dIn, n)
    } else {
      const wantState = ctx.mode === "prefill";
      [y, ssm] = ctx.op(
        "selective_scan",
        scanIn,
        wantState
          ? [["scan_y", at(dIn)], ["ssm_state", ssmShape]]
          : [["scan_y", at(dIn)]],
        { impl: m.scan, softplus: true, returnState: wantState },
      ); // (b, l, dIn) [, (b, dIn, n)]
    }
    const out = op1(
      "linear",
      [y, w("out_proj.weight"), ctx.maybeParam(`${p}.out_proj.bias`)],
      "y",
      x.shape,
    ); // (b, l, d)
    if (ctx.mode === "step" || ctx.mode === "prefill") {
      return { y: out, state: { conv: convState, ssm: ssm! } };
    }
    return { y: out };
  },
};
