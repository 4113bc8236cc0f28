/**
 * An independent float64 forward of Hugging Face Mamba-family folders
 * (`mamba`, `falcon_mamba`, `mamba2`), written as plain loops over
 * Float64Arrays with no tfjs and no code shared with the library: the witness
 * that a fixture's `logits_f64` means what we think, and the oracle the
 * library's Mamba-2 and Falcon-Mamba paths are checked against.
 *
 * Glossary: `b` batch, `l` length, `d` model width, `dIn` inner width,
 * `n` state size, `r` dt rank, `k` conv width, `v` vocab, `H` heads,
 * `P` head dim, `G` groups.
 *
 * Reference: transformers 5.17 `modeling_mamba.py` / `modeling_falcon_mamba.py`
 * (`slow_forward`) and `modeling_mamba2.py` (`torch_forward`);
 * state-spaces/mamba `mamba_ssm/modules/mamba2.py` (`RMSNormGated` with
 * `group_size = d_inner / ngroups`, `norm_before_gate=False`).
 *
 * @module
 */
import { readSafetensors } from "../models/safetensors.ts";

/** A tensor as float64: row-major data and its shape. */
export interface F64Tensor {
  /** Dimensions. */
  shape: number[];
  /** Row-major values. */
  data: Float64Array;
}

/** Options of {@linkcode forwardF64}. */
export interface OracleOptions {
  /**
   * Mamba-2's gated RMSNorm: `"official"` normalises each of the `G` groups
   * with eps 1e-5 (state-spaces/mamba), `"transformers"` the whole `dIn` with
   * `layer_norm_epsilon` (transformers 5.17's torch path). Default official.
   */
  gatedNorm?: "official" | "transformers";
  /** A planted mistake, for tests that prove the oracle can tell: swap B and C. */
  swapBC?: boolean;
}

/** Reads a fixture folder: its config.json and weights in float64. */
export async function readFolderF64(
  dir: string,
): Promise<
  { config: Record<string, unknown>; weights: Map<string, F64Tensor> }
> {
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const { tensors } = await readSafetensors(`${dir}/model.safetensors`);
  const weights = new Map<string, F64Tensor>();
  for (const [name, t] of tensors) {
    weights.set(name, {
      shape: t.shape,
      data: Float64Array.from(t.data as ArrayLike<number>),
    });
  }
  return { config, weights };
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/** y (l, out) = x (l, inp) · Wᵀ (+ bias); W is (out, inp). */
function linear(
  x: Float64Array,
  l: number,
  w: F64Tensor,
  bias?: F64Tensor,
): Float64Array {
  const [out, inp] = w.shape;
  const y = new Float64Array(l * out);
  for (let t = 0; t < l; t++) {
    for (let o = 0; o < out; o++) {
      let s = bias ? bias.data[o] : 0;
      for (let i = 0; i < inp; i++) s += x[t * inp + i] * w.data[o * inp + i];
      y[t * out + o] = s;
    }
  }
  return y;
}

/** RMS norm of each row of x (l, d) over `size`-wide groups, times w if given. */
function rmsNorm(
  x: Float64Array,
  l: number,
  d: number,
  eps: number,
  w?: Float64Array,
  size = d,
): Float64Array {
  const y = new Float64Array(l * d);
  for (let t = 0; t < l; t++) {
    for (let g = 0; g < d; g += size) {
      let ms = 0;
      for (let i = g; i < g + size; i++) ms += x[t * d + i] ** 2;
      const inv = 1 / Math.sqrt(ms / size + eps);
      for (let i = g; i < g + size; i++) {
        y[t * d + i] = x[t * d + i] * inv * (w ? w[i] : 1);
      }
    }
  }
  return y;
}

/** Causal depthwise conv over time of x (l, c) with weight (c, 1, k), then SiLU. */
function convSilu(
  x: Float64Array,
  l: number,
  w: F64Tensor,
  bias?: F64Tensor,
): Float64Array {
  const [c, , k] = w.shape;
  const y = new Float64Array(l * c);
  for (let t = 0; t < l; t++) {
    for (let ch = 0; ch < c; ch++) {
      let s = bias ? bias.data[ch] : 0;
      for (let j = 0; j < k; j++) {
        const src = t - (k - 1) + j;
        if (src >= 0) s += w.data[ch * k + j] * x[src * c + ch];
      }
      y[t * c + ch] = silu(s);
    }
  }
  return y;
}

/** Columns [from, from + width) of x (l, c). */
function cols(
  x: Float64Array,
  l: number,
  c: number,
  from: number,
  width: number,
): Float64Array {
  const y = new Float64Array(l * width);
  for (let t = 0; t < l; t++) {
    for (let i = 0; i < width; i++) y[t * width + i] = x[t * c + from + i];
  }
  return y;
}

type Get = (name: string) => F64Tensor;
type Opt = (name: string) => F64Tensor | undefined;

/** The Mamba-1 mixer (Falcon-Mamba when `rmsEps` is set) on one row (l, d). */
function mambaMixer(
  h: Float64Array,
  l: number,
  p: string,
  get: Get,
  opt: Opt,
  config: Record<string, unknown>,
  options: OracleOptions,
): Float64Array {
  const inW = get(`${p}.in_proj.weight`);
  const dIn = inW.shape[0] / 2;
  const aLog = get(`${p}.A_log`); // (dIn, n)
  const n = aLog.shape[1];
  const dtW = get(`${p}.dt_proj.weight`); // (dIn, r)
  const r = dtW.shape[1];
  const xz = linear(h, l, inW, opt(`${p}.in_proj.bias`)); // (l, 2·dIn)
  const x = convSilu(
    cols(xz, l, 2 * dIn, 0, dIn),
    l,
    get(`${p}.conv1d.weight`),
    opt(`${p}.conv1d.bias`),
  ); // (l, dIn)
  const z = cols(xz, l, 2 * dIn, dIn, dIn); // (l, dIn)
  const proj = linear(x, l, get(`${p}.x_proj.weight`)); // (l, r + 2n)
  let dtIn = cols(proj, l, r + 2 * n, 0, r); // (l, r)
  let B = cols(proj, l, r + 2 * n, r, n); // (l, n)
  let C = cols(proj, l, r + 2 * n, r + n, n); // (l, n)
  if (options.swapBC) [B, C] = [C, B];
  if (config.model_type === "falcon_mamba") {
    const eps = config.mixer_rms_eps as number;
    B = rmsNorm(B, l, n, eps);
    C = rmsNorm(C, l, n, eps);
    dtIn = rmsNorm(dtIn, l, r, eps);
  }
  const dt = linear(dtIn, l, dtW, get(`${p}.dt_proj.bias`)).map(softplus); // (l, dIn)
  const D = get(`${p}.D`).data;
  const state = new Float64Array(dIn * n);
  const y = new Float64Array(l * dIn);
  for (let t = 0; t < l; t++) {
    for (let c = 0; c < dIn; c++) {
      const dtc = dt[t * dIn + c];
      const xc = x[t * dIn + c];
      let s = 0;
      for (let j = 0; j < n; j++) {
        const a = -Math.exp(aLog.data[c * n + j]);
        const v = Math.exp(dtc * a) * state[c * n + j] +
          dtc * B[t * n + j] * xc;
        state[c * n + j] = v;
        s += v * C[t * n + j];
      }
      y[t * dIn + c] = (s + D[c] * xc) * silu(z[t * dIn + c]);
    }
  }
  return linear(y, l, get(`${p}.out_proj.weight`), opt(`${p}.out_proj.bias`));
}

/** The Mamba-2 mixer on one row (l, d): SSD as its sequential recurrence. */
function mamba2Mixer(
  h: Float64Array,
  l: number,
  p: string,
  get: Get,
  opt: Opt,
  config: Record<string, unknown>,
  options: OracleOptions,
): Float64Array {
  const H = config.num_heads as number;
  const P = config.head_dim as number;
  const G = config.n_groups as number;
  const n = config.state_size as number;
  const dIn = H * P;
  const convDim = dIn + 2 * G * n;
  const proj = linear(
    h,
    l,
    get(`${p}.in_proj.weight`),
    opt(`${p}.in_proj.bias`),
  );
  const width = dIn + convDim + H; // (l, width): z | xBC | dt
  const z = cols(proj, l, width, 0, dIn);
  const xBC = convSilu(
    cols(proj, l, width, dIn, convDim),
    l,
    get(`${p}.conv1d.weight`),
    opt(`${p}.conv1d.bias`),
  ); // (l, convDim)
  const dtRaw = cols(proj, l, width, dIn + convDim, H); // (l, H)
  const x = cols(xBC, l, convDim, 0, dIn);
  let B = cols(xBC, l, convDim, dIn, G * n);
  let C = cols(xBC, l, convDim, dIn + G * n, G * n);
  if (options.swapBC) [B, C] = [C, B];
  const limit = timeStepLimit(config.time_step_limit);
  const dtBias = get(`${p}.dt_bias`).data;
  const aLog = get(`${p}.A_log`).data;
  const D = get(`${p}.D`).data;
  const state = new Float64Array(H * P * n);
  const y = new Float64Array(l * dIn);
  const headsPerGroup = H / G;
  for (let t = 0; t < l; t++) {
    for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / headsPerGroup);
      let dt = softplus(dtRaw[t * H + hd] + dtBias[hd]);
      dt = Math.min(Math.max(dt, limit[0]), limit[1]);
      const decay = Math.exp(dt * -Math.exp(aLog[hd]));
      for (let q = 0; q < P; q++) {
        const xv = x[t * dIn + hd * P + q];
        let s = 0;
        for (let j = 0; j < n; j++) {
          const i = (hd * P + q) * n + j;
          state[i] = decay * state[i] + dt * xv * B[t * G * n + g * n + j];
          s += state[i] * C[t * G * n + g * n + j];
        }
        y[t * dIn + hd * P + q] = s + D[hd] * xv;
      }
    }
  }
  for (let i = 0; i < y.length; i++) y[i] *= silu(z[i]);
  const transformers = options.gatedNorm === "transformers";
  const normed = rmsNorm(
    y,
    l,
    dIn,
    transformers ? config.layer_norm_epsilon as number : 1e-5,
    get(`${p}.norm.weight`).data,
    transformers ? dIn : dIn / G,
  );
  return linear(
    normed,
    l,
    get(`${p}.out_proj.weight`),
    opt(`${p}.out_proj.bias`),
  );
}

/** `time_step_limit` as transformers writes it (`{"__float__": "Infinity"}`). */
function timeStepLimit(value: unknown): [number, number] {
  if (!Array.isArray(value)) return [0, Infinity];
  return value.map((v) =>
    typeof v === "number" ? v : Number((v as { __float__: string }).__float__)
  ) as [number, number];
}

/**
 * Logits (b, l, v) of a Hugging Face Mamba, Falcon-Mamba or Mamba-2 causal
 * LM, in float64.
 * @param folder from {@linkcode readFolderF64}.
 * @param ids token ids, (b, l).
 * @param options the gated norm's semantics; a planted mistake.
 */
export function forwardF64(
  folder: { config: Record<string, unknown>; weights: Map<string, F64Tensor> },
  ids: number[][],
  options: OracleOptions = {},
): F64Tensor {
  const { config, weights } = folder;
  const get: Get = (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`oracle: missing ${name}`);
    return w;
  };
  const opt: Opt = (name) => weights.get(name);
  const emb = get("backbone.embeddings.weight");
  const [v, d] = emb.shape;
  const head = weights.get("lm_head.weight") ?? emb;
  const eps = config.layer_norm_epsilon as number;
  const layers = config.num_hidden_layers as number;
  const mixer = config.model_type === "mamba2" ? mamba2Mixer : mambaMixer;
  const b = ids.length;
  const l = ids[0].length;
  const out = new Float64Array(b * l * v);
  for (let row = 0; row < b; row++) {
    let h: Float64Array = new Float64Array(l * d);
    for (let t = 0; t < l; t++) {
      h.set(emb.data.subarray(ids[row][t] * d, (ids[row][t] + 1) * d), t * d);
    }
    for (let i = 0; i < layers; i++) {
      const p = `backbone.layers.${i}`;
      const normed = rmsNorm(h, l, d, eps, get(`${p}.norm.weight`).data);
      const y = mixer(normed, l, `${p}.mixer`, get, opt, config, options);
      h = h.map((x, j) => x + y[j]);
    }
    const final = rmsNorm(h, l, d, eps, get("backbone.norm_f.weight").data);
    out.set(linear(final, l, head), row * l * v);
  }
  return { shape: [b, l, v], data: out };
}
