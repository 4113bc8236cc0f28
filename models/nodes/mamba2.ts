/**
 * Mixer kind `mamba2` (Mamba-2, the SSD block): in_proj → z | xBC | Δ;
 * causal depthwise conv1d + SiLU over xBC → x, B, C; the SSD (one A per
 * head, B and C shared by the h/g heads of a group, D skip); the gated
 * RMSNorm (y · SiLU(z), then RMS — per group, or over all of dIn with
 * `norm: "transformers"`); out_proj. Lowered for every mode, with its
 * recurrent state {conv (b, k-1, dIn + 2gn), ssm (b, dIn, n)} (the SSD's
 * (b, h, p, n) state, same elements).
 *
 * Time-step limit: Δ = softplus(dt + dt_bias) is clamped to `dtLimit` in
 * the parallel modes (forward, train, prefill) and NOT in the one-token
 * step, as the official `Mamba2.step` and transformers' decode do; with a
 * limit that binds, step-by-step decoding can differ from the parallel
 * forward by exactly that clamp.
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` = h·p inner
 * width, `h` heads, `p` head dim, `g` groups, `n` state size, `k` conv
 * width, `w` = 2dIn + 2gn + h the in_proj width.
 *
 * Parameters under `backbone.layers.{i}.mixer` (Hugging Face names, torch
 * layouts), initialised as the official `Mamba2.__init__`: in_proj (w, d)
 * U(±1/√d) [+ bias 0], conv1d (dIn + 2gn, 1, k) U(±1/√k) [+ bias],
 * dt_bias (h) = softplus⁻¹(Δ) with Δ log-uniform in [dtMin, dtMax] floored
 * at dtFloor, A_log (h) = log(U(1, 16)), D (h) = 1, norm.weight (dIn) = 1,
 * out_proj (d, dIn) U(±1/√dIn) / √nLayers [+ bias 0].
 *
 * Reference: state-spaces/mamba `modules/mamba2.py` (`Mamba2.__init__`,
 * `forward`, `step`); transformers 5.17 `Mamba2Mixer.torch_forward`.
 *
 * @module
 */
import type { ResolvedMamba2 } from "../../dsl/resolve.ts";
import type { Buf, Shape } from "../program/program.ts";
import type { MixerKind, ParamSpec } from "./node_kind.ts";
import { constant, dtBiasInit, optionalBiases, uniform } from "./_init.ts";
import { SSM_OPS } from "./_ssm_ops.ts";
import { mixerLowering } from "./_lower_util.ts";
import { MAMBA2_WEBGPU_OPS } from "./_mamba2_webgpu.ts";

function params(m: ResolvedMamba2, d: number, nLayers: number, p: string) {
  const dIn = m.dInner, h = m.headsValue, k = m.dConv, conv = m.convDim;
  const w = dIn + conv + h;
  const specs: Record<string, ParamSpec> = {
    [`${p}.in_proj.weight`]: { shape: [w, d], init: uniform(1 / Math.sqrt(d)) },
    [`${p}.conv1d.weight`]: {
      shape: [conv, 1, k],
      init: uniform(1 / Math.sqrt(k)),
    },
    [`${p}.dt_bias`]: {
      shape: [h],
      init: dtBiasInit(m),
    },
    [`${p}.A_log`]: {
      shape: [h],
      init: (rng, size) => {
        const out = new Float32Array(size);
        for (let i = 0; i < size; i++) out[i] = Math.log(rng.uniform(1, 16));
        return out;
      },
    },
    [`${p}.D`]: { shape: [h], init: constant(1) },
    [`${p}.norm.weight`]: { shape: [dIn], init: constant(1) },
    [`${p}.out_proj.weight`]: {
      shape: [d, dIn],
      init: uniform(1 / Math.sqrt(dIn) / Math.sqrt(nLayers)),
    },
  };
  return {
    ...specs,
    ...optionalBiases(p, m, { conv: conv, inProj: w, d, k }),
  };
}

/** The Mamba-2 mixer. */
export const mamba2Kind: MixerKind<ResolvedMamba2> = {
  params: (m, { resolved, prefix }) =>
    params(m, resolved.dModel, resolved.layers.length, prefix),
  stateShape: (m) => ({
    conv: ["b", m.dConv - 1, m.convDim],
    ssm: ["b", m.dInner, m.dState],
  }),
  ops: SSM_OPS,
  webgpuOps: MAMBA2_WEBGPU_OPS,
  lower: (m, x, ctx, state) => {
    const dIn = m.dInner, h = m.headsValue, n = m.dState, g = m.groups;
    const conv = m.convDim, gn = g * n;
    const p = ctx.prefix;
    const w = (name: string) => ctx.param(`${p}.${name}`);
    const opt = (name: string) => ctx.maybeParam(`${p}.${name}`);
    const step = ctx.mode === "step";
    const { at, op1 } = mixerLowering(x, ctx);
    const slice = (src: Buf, name: string, start: number, size: number) =>
      op1("slice_last", [src], name, at(size), { start, size });

    const zxbcdt = op1(
      "linear",
      [x, w("in_proj.weight"), opt("in_proj.bias")],
      "zxbcdt",
      at(dIn + conv + h),
    ); // (b, l, 2dIn + 2gn + h)
    const z = slice(zxbcdt, "z", 0, dIn); // (b, l, dIn)
    const xbcIn = slice(zxbcdt, "xbc_in", dIn, conv); // (b, l, dIn + 2gn)
    const dt = slice(zxbcdt, "dt", dIn + conv, h); // (b, l, h)
    const convShape: Shape = ["b", m.dConv - 1, conv];
    const convIn = [xbcIn, w("conv1d.weight"), opt("conv1d.bias")];
    const [xbc, convState] = step
      ? ctx.op("conv_silu_step", [...convIn, state!.conv], [
        ["xbc", at(conv)],
        ["conv_state", convShape],
      ]) // (b, dIn + 2gn), (b, k-1, dIn + 2gn)
      : ctx.op("causal_conv_silu", convIn, [
        ["xbc", at(conv)],
        ["conv_state", convShape],
      ]); // (b, l, dIn + 2gn), (b, k-1, dIn + 2gn)
    const xs = slice(xbc, "x", 0, dIn); // (b, l, dIn)
    const B = slice(xbc, "B", dIn, gn); // (b, l, g·n)
    const C = slice(xbc, "C", dIn + gn, gn); // (b, l, g·n)
    const A = op1("neg_exp", [w("A_log")], "A", [h]); // (h)
    const ssdIn = [xs, dt, A, B, C, w("D"), w("dt_bias")];
    const ssmShape: Shape = ["b", dIn, n];
    let y: Buf, ssm: Buf | undefined;
    if (step) {
      [y, ssm] = ctx.op("ssd_step", [...ssdIn, state!.ssm], [
        ["ssd_y", at(dIn)],
        ["ssm_state", ssmShape],
      ], { heads: h, groups: g }); // (b, dIn), (b, dIn, n)
    } else {
      const wantState = ctx.mode === "prefill";
      [y, ssm] = ctx.op(
        "ssd",
        ssdIn,
        wantState
          ? [["ssd_y", at(dIn)], ["ssm_state", ssmShape]]
          : [["ssd_y", at(dIn)]],
        {
          heads: h,
          groups: g,
          chunkSize: m.chunkSize,
          dtLo: m.dtLimit[0],
          dtHi: m.dtLimit[1],
          returnState: wantState,
        },
      ); // (b, l, dIn) [, (b, dIn, n)]
    }
    const normed = op1(
      "gated_rms_norm",
      [y, z, w("norm.weight")],
      "normed",
      at(dIn),
      {
        groupSize: m.norm === "official" ? dIn / g : dIn,
        eps: m.normEps,
      },
    ); // (b, l, dIn)
    const out = op1(
      "linear",
      [normed, w("out_proj.weight"), opt("out_proj.bias")],
      "y",
      x.shape,
    ); // (b, l, d)
    if (ctx.mode === "step" || ctx.mode === "prefill") {
      return { y: out, state: { conv: convState, ssm: ssm! } };
    }
    return { y: out };
  },
};
