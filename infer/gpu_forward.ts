/**
 * A prebuilt forward pass of an LM-head or classifier model on the webgpu
 * backend (the classifier's head runs as tfjs ops), for a
 * fixed (batch, length): every dispatch of the forward bound once to
 * buffers of its own, so that a call uploads the ids, records ~9 dispatches
 * per layer from prebuilt bind groups into one command buffer, and submits.
 *
 * The same WGSL as `model.forward` on webgpu (the tuned matmul, the fused
 * causal conv + SiLU, the fused add + norm, the selective scan), but none of
 * tfjs's per-op JavaScript: on the H200 that work was 33–48 ms per
 * Mamba-130m forward at (1, 2048), more than the GPU's own time
 * (BENCHMARKS.md). Also: the scan's packed parameters P = [−exp(A_log) | D |
 * Δ bias] are computed once, z is read in place from in_proj's output, and
 * each residual add is fused into the next norm (as in the official stack's
 * fused add + RMSNorm).
 *
 * The weights are copied when the forward is built (later changes to the
 * model's variables do not reach it), or shared with the model's variables
 * (`weights: "share"`, checked on every call). Dropout steps are skipped
 * (inference).
 *
 * Reference: state-spaces/mamba `models/mixer_seq_simple.py` (`MixerModel`
 * with `fused_add_norm`); CUDA graphs (a forward captured once, replayed).
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import {
  allocate,
  bindGroup,
  flushTfjs,
  gpuBuffer,
  type Launch,
  pipeline,
  type Plan,
  uniformWords,
  webgpuBackend,
} from "../kernels/webgpu/_dispatch.ts";
import { matMulPlan } from "../kernels/webgpu/matmul.ts";
import {
  convForwardLaunch,
  fusedConvSupports,
} from "../kernels/webgpu/conv1d.ts";
import { normForwardLaunch } from "../kernels/webgpu/norm.ts";
import { scanForwardPlan } from "../kernels/webgpu/scan_kernels.ts";
import { packScanParams } from "../kernels/webgpu/selective_scan_webgpu.ts";
import {
  addLaunch,
  embedRowsLaunch,
  lastRowsLaunch,
  splitDbcLaunch,
} from "../kernels/webgpu/_wgsl_rows.ts";
import type { NormNode } from "../dsl/schema.ts";
import { type ClassifierStep, classify } from "../models/_head.ts";
import { lmHeadWeightName, normPrefixes } from "../models/init.ts";
import { checkIdRows } from "../models/_ids.ts";
import type { LayerState, MambaModel, TokenIds } from "../models/types.ts";
import { mamba1, notMamba1 } from "./_mamba1_only.ts";

/** Shape of {@linkcode GpuForward}'s calls. */
export interface GpuForwardOptions {
  /** Sequences per call. */
  batch: number;
  /** Tokens per sequence. */
  length: number;
  /**
   * `"copy"` (default): the weights are copied, so later changes to the
   * model's variables do not reach the forward. `"share"`: the forward binds
   * the variables' own buffers (no copy, no extra memory), and every call
   * checks that none was reassigned or disposed since (else it throws).
   */
  weights?: "copy" | "share";
}

/** One prebuilt dispatch. */
interface Step {
  /** What it does, for profiles. */
  label: string;
  pipe: GPUComputePipeline;
  group: GPUBindGroup;
  groups: [number, number, number];
}

/**
 * One dispatch of the LM head: prebuilt, except where it writes the logits
 * (a tfjs tensor made per call): then its bind group is made per call.
 */
interface HeadStep extends Omit<Step, "group"> {
  group: GPUBindGroup | ((logits: GPUBuffer) => GPUBindGroup);
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/**
 * Why `model` cannot run as a {@linkcode GpuForward}, or null when it can.
 *
 * @param model the model.
 * @returns a reason, or null.
 */
export function gpuForwardUnsupported(model: MambaModel): string | null {
  if (tf.getBackend() !== "webgpu") {
    return `backend is "${tf.getBackend()}", not "webgpu"`;
  }
  const plan = model.resolved.plan;
  const head = plan[plan.length - 1].kind;
  if (head !== "lm_head" && head !== "classifier") {
    return `head "${head}" is neither an LM head nor a classifier`;
  }
  const other = model.resolved.layers.map(notMamba1).find((w) => w);
  if (other) return other;
  const wide = model.resolved.layers.find((l) =>
    !fusedConvSupports(l.mixer.dConv)
  );
  if (wide) {
    return `layer ${wide.index}: conv width ${wide.mixer.dConv} is not supported by the fused conv kernel`;
  }
  return null;
}

/**
 * The forward pass of an LM-head or classifier model as prebuilt WebGPU
 * work for one (batch, length).
 *
 * @example
 * ```ts
 * import { GpuForward } from "./gpu_forward.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const fwd = new GpuForward(model, { batch: 1, length: 3 });
 * const logits = fwd.forward([[1, 2, 3]]); // (1, 3, v), as model.forward
 * const { state } = fwd.prefill([[1, 2, 3]], { lastOnly: true });
 * fwd.dispose();
 * // A classifier model: fwd.classify([[1, 2, 3]]) = model.forward(…), (1, c).
 * ```
 */
export class GpuForward {
  /** Sequences per call (fixed when built). */
  readonly batch: number;
  /** Tokens per sequence (fixed when built). */
  readonly length: number;
  readonly #device: GPUDevice;
  readonly #vocab: number;
  readonly #rows: number;
  readonly #buffers: GPUBuffer[] = [];
  readonly #steps: Step[] = [];
  readonly #ids: GPUBuffer;
  /** The final hidden states, input of the LM head or the classifier. */
  readonly #final: GPUBuffer;
  /** The LM head for all rows, and for the last row of each sequence. */
  readonly #head: Record<"all" | "last", HeadStep[]> = { all: [], last: [] };
  readonly #logitsWidth: number;
  /** The classifier head (run as tfjs ops on the final hidden states), or null. */
  readonly #classifier: ClassifierStep | null;
  readonly #params: Map<string, tf.Variable>;
  readonly #seqLen: number | undefined;
  /** Model width d. */
  readonly #width: number;
  /** Per layer: conv history out (b, k-1, dIn) and final SSM state (b, dIn, n). */
  readonly #states: {
    conv: GPUBuffer;
    ssm: GPUBuffer;
    convShape: [number, number, number];
    ssmShape: [number, number, number];
  }[] = [];
  #disposed = false;
  /** Variables bound in place ("share"), with the data they had then. */
  readonly #shared: { name: string; v: tf.Variable; dataId: object }[] = [];

  /**
   * Copies (or binds) the model's weights and builds every pipeline and bind
   * group of the forward.
   *
   * @param model an LM-head or classifier model on the webgpu backend.
   * @param options the batch and length every call will have.
   * @throws Error when {@linkcode gpuForwardUnsupported} gives a reason,
   *   when batch or length is not a positive integer, or when a buffer
   *   would exceed the device's storage binding limit.
   */
  constructor(model: MambaModel, options: GpuForwardOptions) {
    const reason = gpuForwardUnsupported(model);
    if (reason) throw new Error(`GpuForward: ${reason}`);
    for (const key of ["batch", "length"] as const) {
      const v = options?.[key];
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(
          `GpuForward: ${key}: expected a positive integer, received ${v}`,
        );
      }
    }
    if (
      options.weights !== undefined && options.weights !== "share" &&
      options.weights !== "copy"
    ) {
      throw new Error(
        `GpuForward: weights: expected "copy" or "share", received ${
          JSON.stringify(options.weights)
        }`,
      );
    }
    const b = this.batch = options.batch;
    const l = this.length = options.length;
    const M = this.#rows = b * l;
    const backend = webgpuBackend();
    const device = this.#device = backend.device;
    const r = model.resolved;
    const d = r.dModel;
    this.#vocab = r.vocab;
    const head = r.plan[r.plan.length - 1];
    this.#classifier = head.kind === "classifier" ? head : null;
    this.#params = model.params;
    this.#seqLen = r.seqLen;
    this.#width = d;
    const lmName = lmHeadWeightName(r);
    const lmParam = this.#classifier ? null : model.params.get(lmName);
    if (!this.#classifier && !lmParam) {
      throw new Error(`GpuForward: missing parameter ${lmName}`);
    }
    const V = this.#logitsWidth = lmParam?.shape[0] ?? 0;

    const limit = device.limits.maxStorageBufferBindingSize;
    const fits = (what: string, floats: number) => {
      const bytes = Math.max(16, 4 * floats);
      if (bytes > limit) {
        throw new RangeError(
          `GpuForward: ${what} needs a ${bytes}-byte storage binding for batch·length = ${M}, device limit ${limit}: use a smaller batch or length`,
        );
      }
      return bytes;
    };
    const buffer = (what: string, floats: number, usage = STORAGE) => {
      const buf = device.createBuffer({ size: fits(what, floats), usage });
      this.#buffers.push(buf);
      return buf;
    };
    fits("logits", M * V); // allocated per call, by tfjs

    // Weights: copied from tfjs's buffers in one submit.
    const copies = device.createCommandEncoder();
    const temporaries: tf.Tensor[] = [];
    try {
      const copyOf = (t: tf.Tensor, what: string): GPUBuffer => {
        const buf = buffer(what, t.size);
        copies.copyBufferToBuffer(gpuBuffer(backend, t), 0, buf, 0, 4 * t.size);
        return buf;
      };
      const share = options.weights === "share";
      /** A parameter, recorded for the per-call check in "share" mode. */
      const watched = (name: string): tf.Variable => {
        const t = model.params.get(name);
        if (!t) throw new Error(`GpuForward: missing parameter ${name}`);
        if (share) this.#shared.push({ name, v: t, dataId: t.dataId });
        return t;
      };
      const weight = (name: string): GPUBuffer => {
        const t = watched(name);
        return share ? gpuBuffer(backend, t) : copyOf(t, name);
      };
      const maybe = (name: string) =>
        model.params.has(name) ? weight(name) : undefined;

      const mixers = r.layers.map((x) => x.mixer);
      const max = (f: (m: (typeof mixers)[number]) => number) =>
        Math.max(...mixers.map(f));
      const maxIn = max((m) => m.dInner);
      fits("in_proj output", M * 2 * maxIn); // the largest activation, first
      const maxN = max((m) => m.dState);
      const maxR = Math.max(...r.layers.map((l) => mamba1(l).dtRankValue));
      this.#ids = buffer("ids", M);
      const h = [buffer("hidden", M * d), buffer("hidden", M * d)];
      const normed = buffer("normed", M * d);
      const mix = buffer("mixer output", M * d);
      const scratch = buffer("residual scratch", M * d);
      const xz = buffer("in_proj output", M * 2 * maxIn);
      const u = buffer("conv output", M * maxIn);
      const dbc = buffer("x_proj output", M * (maxR + 2 * maxN));
      const dt = buffer("dt", M * maxR);
      const Bm = buffer("B", M * maxN);
      const Cm = buffer("C", M * maxN);
      const delta = buffer("delta", M * maxIn);
      const y = buffer("scan output", M * maxIn);
      const embedding = weight("backbone.embeddings.weight");
      const lmWeight = lmName === "backbone.embeddings.weight"
        ? embedding
        : weight(lmName);

      const uniform = (values: number[]) => {
        const data = uniformWords(values);
        const buf = buffer(
          "uniforms",
          data.length,
          GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        );
        device.queue.writeBuffer(buf, 0, data);
        return buf;
      };
      const group = (pipe: GPUComputePipeline, buffers: GPUBuffer[]) =>
        bindGroup(device, pipe, buffers);
      const make = (label: string, launch: Launch, buffers: GPUBuffer[]) => {
        const pipe = pipeline(device, launch.key, launch.wgsl);
        return {
          label,
          pipe,
          group: group(pipe, [...buffers, uniform(launch.uniforms)]),
          groups: launch.groups,
        };
      };
      const add = (label: string, launch: Launch, buffers: GPUBuffer[]) =>
        this.#steps.push(make(label, launch, buffers));
      // Temporaries of multi-dispatch plans, shared by name and size (the
      // dispatches run in order, so one plan's scratch is free for the next).
      const temps = new Map<string, GPUBuffer>();
      const withTemps = (
        label: string,
        plan: Plan,
        named: Record<string, GPUBuffer>,
      ): Record<string, GPUBuffer | undefined> => {
        const all: Record<string, GPUBuffer | undefined> = { ...named };
        for (const [name, shape] of Object.entries(plan.temps)) {
          const floats = shape.reduce((x, z) => x * z, 1);
          const key = `${name}_${floats}`;
          let t = temps.get(key);
          if (!t) temps.set(key, t = buffer(`${label} ${name}`, floats));
          all[name] = t;
        }
        return all;
      };
      const addPlan = (
        label: string,
        plan: Plan,
        named: Record<string, GPUBuffer>,
      ) => {
        const all = withTemps(label, plan, named);
        for (const s of plan.steps) {
          add(label, s.launch, s.buffers.map((x) => all[x]!));
        }
      };
      const matmul = (
        label: string,
        [m, n, k]: number[],
        named: Record<string, GPUBuffer | undefined>,
      ) =>
        addPlan(
          label,
          matMulPlan(device, m, n, k, named.bias !== undefined),
          Object.fromEntries(
            Object.entries(named).filter(([, v]) => v),
          ) as Record<string, GPUBuffer>,
        );
      add(
        "embedding",
        embedRowsLaunch(device, M, d, r.vocab),
        [h[0], embedding, this.#ids],
      );
      // The residual stream is h[cur]; `pending` says the last mixer's output
      // (in `mix`) is still to be added to it.
      let cur = 0;
      let pending = false;
      /** norm(h[cur] (+ mix)) into `out`; the sum becomes the stream. */
      const norm = (
        label: string,
        spec: NormNode,
        prefix: string,
        out: GPUBuffer,
        sumTo: GPUBuffer,
      ) => {
        const w = weight(`${prefix}.weight`);
        const bias = maybe(`${prefix}.bias`);
        const a = {
          layer: spec.kind === "layer_norm",
          eps: spec.eps,
          hasBias: bias !== undefined,
        };
        add(label, normForwardLaunch(device, M, d, pending, a), [
          out,
          ...(pending ? [sumTo, h[cur], mix] : [h[cur]]),
          w,
          bias ?? w,
        ]);
      };
      const topPrefixes = normPrefixes(r);
      for (const step of r.plan) {
        if (step.kind === "residual") {
          const layer = r.layers[step.layer];
          const m = mamba1(layer);
          const { dInner: dIn, dState: n, dtRankValue: rank, dConv: k } = m;
          const p = `backbone.layers.${step.layer}`;
          norm(
            "norm (+ residual)",
            layer.norm,
            `${p}.norm`,
            normed,
            h[1 - cur],
          );
          if (pending) cur = 1 - cur;
          pending = false;
          const inBias = maybe(`${p}.mixer.in_proj.bias`);
          const inW = weight(`${p}.mixer.in_proj.weight`);
          matmul("in_proj", [M, 2 * dIn, d], {
            out: xz,
            a: normed,
            w: inW,
            bias: inBias,
          });
          const convHist = buffer("conv state", b * (k - 1) * dIn);
          const ssm = buffer("ssm state", b * dIn * n);
          this.#states.push({
            conv: convHist,
            ssm,
            convShape: [b, k - 1, dIn],
            ssmShape: [b, dIn, n],
          });
          const convW = weight(`${p}.mixer.conv1d.weight`);
          const convB = maybe(`${p}.mixer.conv1d.bias`);
          add(
            "conv + SiLU",
            convForwardLaunch(device, [b, l, dIn, k, 2 * dIn, 0], {
              hasBias: !!convB,
              hasHist: false,
            }),
            [u, convHist, xz, convW, convW, convB ?? convW],
          );
          matmul("x_proj", [M, rank + 2 * n, dIn], {
            out: dbc,
            a: u,
            w: weight(`${p}.mixer.x_proj.weight`),
          });
          add(
            "split Δ, B, C",
            splitDbcLaunch(device, M, rank, n),
            [dt, Bm, Cm, dbc],
          );
          matmul("dt_proj", [M, dIn, rank], {
            out: delta,
            a: dt,
            w: weight(`${p}.mixer.dt_proj.weight`),
          });
          // P = [−exp(A_log) | D | Δ bias], once (in "share" mode its sources
          // are watched like the bound weights).
          const [ALog, D, dtBias] = ["A_log", "D", "dt_proj.bias"].map((w) =>
            watched(`${p}.mixer.${w}`)
          );
          const P = tf.tidy(() =>
            packScanParams(
              tf.neg(tf.exp(ALog)) as tf.Tensor2D,
              D as tf.Tensor1D,
              dtBias as tf.Tensor1D,
            )
          );
          temporaries.push(P);
          const scan = scanForwardPlan(device, {
            b,
            l,
            dIn,
            N: n,
            hasZ: true,
            softplus: true,
            hasInit: false,
            K: 0,
            zStride: 2 * dIn,
            zOff: dIn,
          });
          addPlan("scan", scan, {
            u,
            dl: delta,
            P: copyOf(P, "P"),
            B: Bm,
            C: Cm,
            z: xz,
            y,
            hend: ssm,
          });
          matmul("out_proj", [M, d, dIn], {
            out: mix,
            a: y,
            w: weight(`${p}.mixer.out_proj.weight`),
            bias: maybe(`${p}.mixer.out_proj.bias`),
          });
          pending = true;
        } else if (step.kind === "norm") {
          norm("norm", step.norm, topPrefixes.get(step)!, h[1 - cur], scratch);
          cur = 1 - cur;
          pending = false;
        }
      }
      if (pending) {
        add("residual add", addLaunch(device, M * d), [
          h[1 - cur],
          h[cur],
          mix,
        ]);
        cur = 1 - cur;
      }
      this.#final = h[cur];
      // The head: a product (and a K-slice sum when split) into the logits;
      // the dispatch that writes them is bound per call.
      const headSteps = (rows: number, input: GPUBuffer): HeadStep[] => {
        const plan = matMulPlan(device, rows, V, d, false);
        const named = withTemps("lm_head", plan, { a: input, w: lmWeight });
        return plan.steps.map(({ launch, buffers }) => {
          const pipe = pipeline(device, launch.key, launch.wgsl);
          const u = uniform(launch.uniforms);
          const bound = (out: GPUBuffer) => [
            ...buffers.map((x) => named[x] ?? out),
            u,
          ];
          return {
            label: "lm_head",
            pipe,
            groups: launch.groups,
            group: buffers.includes("out")
              ? (out: GPUBuffer) => group(pipe, bound(out))
              : group(pipe, bound(input)),
          };
        });
      };
      if (!this.#classifier) {
        const last = buffer("last rows", b * d);
        this.#head = {
          all: headSteps(M, this.#final),
          last: [
            make("last rows", lastRowsLaunch(device, b, l, d), [
              last,
              this.#final,
            ]),
            ...headSteps(b, last),
          ],
        };
      }
      flushTfjs(backend); // P must be computed before it is copied
      device.queue.submit([copies.finish()]);
    } catch (error) {
      // A late refusal (a rejected parameter or shape) leaks no GPU buffer.
      for (const buf of this.#buffers) buf.destroy();
      throw error;
    } finally {
      tf.dispose(temporaries);
    }
  }

  /** The head's steps with their bind groups for the logits buffer `out`. */
  #headSteps(which: "all" | "last", out: GPUBuffer): Step[] {
    return this.#head[which].map((s) => ({
      ...s,
      group: typeof s.group === "function" ? s.group(out) : s.group,
    }));
  }

  /**
   * Logits for every position, as `model.forward` (LM-head models).
   *
   * @param ids (batch, length) token ids: rows of numbers (checked) or an
   *   int32 tensor (copied on the GPU; ids clamped to the vocabulary).
   * @returns logits (batch, length, v) on the webgpu backend.
   * @throws Error naming the row or element of `ids` that does not fit, or
   *   when the model ends in a classifier (use {@linkcode GpuForward.classify}).
   */
  forward(ids: TokenIds): tf.Tensor3D {
    this.#needLm("forward");
    return this.#run(ids, false, false).logits;
  }

  /**
   * Class probabilities, as `model.forward` for a classifier model: the
   * backbone prebuilt, then the head (pooling, dense layers) as tfjs ops on
   * the final hidden states, with the model's own head weights.
   *
   * @param ids (batch, length) token ids.
   * @param options `raw`: scores before the head's activation (as
   *   `model.forward`'s `raw`).
   * @returns (batch, c).
   * @throws Error when the model has an LM head, or as `forward` for ids.
   */
  classify(ids: TokenIds, options: { raw?: boolean } = {}): tf.Tensor2D {
    const head = this.#classifier;
    if (!head) {
      throw new Error(
        "GpuForward.classify: needs a classifier model, this one has an LM head (use forward)",
      );
    }
    const backend = webgpuBackend();
    const d = this.#width;
    const hidden = allocate(backend, [this.batch, this.length, d]);
    const encoder = this.#encode(ids, this.#steps);
    encoder.copyBufferToBuffer(
      this.#final,
      0,
      gpuBuffer(backend, hidden),
      0,
      4 * this.#rows * d,
    );
    this.#device.queue.submit([encoder.finish()]);
    const h = tf.engine().makeTensorFromTensorInfo(hidden) as tf.Tensor3D;
    const out = tf.tidy(() =>
      classify(head, h, this.#params, {
        seqLen: this.#seqLen,
        raw: options.raw ?? false,
      })
    );
    h.dispose();
    return out;
  }

  #needLm(what: string): void {
    if (this.#classifier) {
      throw new Error(
        `GpuForward.${what}: needs an LM-head model, this one ends in a classifier (use classify)`,
      );
    }
  }

  /**
   * Logits and the state after the last token, as `model.prefill`.
   *
   * @param ids (batch, length) token ids.
   * @param options `lastOnly`: logits of the last position only (b, 1, v).
   * @returns logits and the state (new tensors owned by the caller).
   * @throws Error when the model ends in a classifier, or as `forward` for ids.
   */
  prefill(
    ids: TokenIds,
    options: { lastOnly?: boolean } = {},
  ): { logits: tf.Tensor3D; state: { layers: LayerState[] } } {
    this.#needLm("prefill");
    const out = this.#run(ids, options.lastOnly ?? false, true);
    return { logits: out.logits, state: { layers: out.layers! } };
  }

  /**
   * GPU time of each kind of dispatch in one forward (all logits), from
   * timestamp queries around every dispatch in its own compute pass (the
   * device needs `timestamp-query`). A classifier's head (tfjs ops) is not
   * included.
   *
   * @param ids (batch, length) token ids.
   * @returns milliseconds by step label ("in_proj", "scan", …), summed over
   *   the layers, or null without `timestamp-query`.
   */
  async profile(ids: TokenIds): Promise<Record<string, number> | null> {
    const device = this.#device;
    if (!device.features.has("timestamp-query")) return null;
    const warm = this.#classifier ? this.classify(ids) : this.forward(ids);
    await warm.data(); // waits; the values are not needed
    warm.dispose();
    const backend = webgpuBackend();
    const out = this.#classifier
      ? null
      : allocate(backend, [this.#rows, this.#logitsWidth]);
    const steps = [
      ...this.#steps,
      ...(out ? this.#headSteps("all", gpuBuffer(backend, out)) : []),
    ];
    const count = 2 * steps.length;
    const qs = device.createQuerySet({ type: "timestamp", count });
    const resolve = device.createBuffer({
      size: 8 * count,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = device.createBuffer({
      size: 8 * count,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.#encode(ids, steps, qs);
    encoder.resolveQuerySet(qs, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, 8 * count);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.destroy();
    resolve.destroy();
    qs.destroy();
    if (out) backend.disposeData(out.dataId, true);
    const ms: Record<string, number> = {};
    steps.forEach((s, i) => {
      ms[s.label] = (ms[s.label] ?? 0) + Number(t[2 * i + 1] - t[2 * i]) / 1e6;
    });
    return ms;
  }

  /** Frees the forward's buffers (its weight copies included). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const b of this.#buffers) b.destroy();
  }

  #run(
    ids: TokenIds,
    lastOnly: boolean,
    wantState: boolean,
  ): { logits: tf.Tensor3D; layers?: LayerState[] } {
    const backend = webgpuBackend();
    const device = this.#device;
    const which = lastOnly ? "last" : "all";
    const logits = allocate(backend, [
      this.batch,
      lastOnly ? 1 : this.length,
      this.#logitsWidth,
    ]);
    const states = wantState
      ? this.#states.map((s) => ({
        conv: allocate(backend, s.convShape),
        ssm: allocate(backend, s.ssmShape),
      }))
      : [];
    const encoder = this.#encode(ids, [
      ...this.#steps,
      ...this.#headSteps(which, gpuBuffer(backend, logits)),
    ]);
    states.forEach((s, i) => {
      const src = this.#states[i];
      encoder.copyBufferToBuffer(
        src.conv,
        0,
        gpuBuffer(backend, s.conv),
        0,
        src.conv.size,
      );
      encoder.copyBufferToBuffer(
        src.ssm,
        0,
        gpuBuffer(backend, s.ssm),
        0,
        src.ssm.size,
      );
    });
    device.queue.submit([encoder.finish()]);
    const engine = tf.engine();
    const logitsT = engine.makeTensorFromTensorInfo(logits) as tf.Tensor3D;
    if (!wantState) return { logits: logitsT };
    return {
      logits: logitsT,
      layers: states.map((s) => ({
        conv: engine.makeTensorFromTensorInfo(s.conv) as tf.Tensor3D,
        ssm: engine.makeTensorFromTensorInfo(s.ssm) as tf.Tensor3D,
      })),
    };
  }

  /**
   * Whether the forward can run: not disposed, and (with `weights: "share"`)
   * none of the model's weights reassigned or disposed since it was built.
   */
  get current(): boolean {
    return !this.#disposed && !this.#changedWeight();
  }

  /** The first shared weight reassigned or disposed since the build, if any. */
  #changedWeight() {
    return this.#shared.find(({ v, dataId }) =>
      v.isDisposed || v.dataId !== dataId
    );
  }

  /**
   * A command encoder with the ids uploaded and `steps` recorded in one
   * compute pass (one pass per step, timed into `timestamps`, when given),
   * after what tfjs has pending (which made the ids or recycled a buffer
   * bound here); the caller adds copies and submits. Tensors the call
   * returns are allocated before this.
   */
  #encode(
    ids: TokenIds,
    steps: Step[],
    timestamps?: GPUQuerySet,
  ): GPUCommandEncoder {
    this.#checkUsable();
    flushTfjs(webgpuBackend());
    const encoder = this.#device.createCommandEncoder();
    this.#upload(ids, encoder);
    const record = (pass: GPUComputePassEncoder, step: Step) => {
      pass.setPipeline(step.pipe);
      pass.setBindGroup(0, step.group);
      pass.dispatchWorkgroups(...step.groups);
    };
    if (timestamps) {
      steps.forEach((step, i) => {
        const pass = encoder.beginComputePass({
          timestampWrites: {
            querySet: timestamps,
            beginningOfPassWriteIndex: 2 * i,
            endOfPassWriteIndex: 2 * i + 1,
          },
        });
        record(pass, step);
        pass.end();
      });
    } else {
      const pass = encoder.beginComputePass();
      for (const step of steps) record(pass, step);
      pass.end();
    }
    return encoder;
  }

  /** Throws when disposed, or when a shared weight changed since the build. */
  #checkUsable(): void {
    if (this.#disposed) throw new Error("GpuForward: used after dispose()");
    const changed = this.#changedWeight();
    if (changed) {
      throw new Error(
        `GpuForward: weight ${changed.name} was ${
          changed.v.isDisposed ? "disposed" : "reassigned"
        } after this forward was built with weights: "share"; build a new one`,
      );
    }
  }

  /**
   * Puts the ids into the ids buffer. Arrays are checked element by element
   * and uploaded; a tensor is checked for shape and copied on the GPU
   * without a readback, so its range is not checked (as `model.forward` on
   * webgpu): the embedding clamps ids to the vocabulary instead of reading
   * out of bounds.
   */
  #upload(ids: TokenIds, encoder: GPUCommandEncoder): void {
    const what = "GpuForward: ids";
    const expect =
      `expected shape [${this.batch}, ${this.length}] (the forward was built for it)`;
    if (ids instanceof tf.Tensor) {
      if (
        ids.rank !== 2 || ids.shape[0] !== this.batch ||
        ids.shape[1] !== this.length
      ) {
        throw new Error(`${what}: ${expect}, received [${ids.shape}]`);
      }
      const backend = webgpuBackend();
      const asInt = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
      // A tensor still on the CPU is uploaded through tfjs's pending command
      // encoder (into a recycled buffer): flushed, with the cast, before ours.
      const source = gpuBuffer(backend, asInt);
      flushTfjs(backend);
      encoder.copyBufferToBuffer(
        source,
        0,
        this.#ids,
        0,
        4 * this.#rows,
      );
      if (asInt !== ids) asInt.dispose();
      return;
    }
    const flat = checkIdRows(ids, this.#vocab, what);
    if (ids.length !== this.batch || flat.length !== this.#rows) {
      throw new Error(
        `${what}: ${expect}, received [${ids.length}, ${
          flat.length / ids.length
        }]`,
      );
    }
    this.#device.queue.writeBuffer(this.#ids, 0, flat); // ids ≥ 0: as u32
  }
}

/**
 * Prebuilt forwards of one model for batch 1, one per input length, sharing
 * the model's weights: the last `capacity` lengths are kept, the least
 * recently used dropped. What generation's prefill and `classifyRows` use on
 * webgpu.
 */
export class GpuForwardCache {
  readonly #model: MambaModel;
  readonly #capacity: number;
  /** By length, least recently used first. */
  readonly #byLength = new Map<number, GpuForward>();

  /**
   * An empty cache; forwards are built on first use.
   *
   * @param model the model (its weights are bound, not copied).
   * @param capacity lengths kept (default 4).
   */
  constructor(model: MambaModel, capacity = 4) {
    this.#model = model;
    this.#capacity = capacity;
  }

  /** Lengths held now, least recently used first. */
  get lengths(): number[] {
    return [...this.#byLength.keys()];
  }

  /**
   * Runs `f` on the prebuilt forward for `length` (built on first use, and
   * built anew when one of the model's weights was reassigned since).
   *
   * @param length the input length.
   * @param f what to run with it.
   * @returns `f`'s result, or null when no prebuilt forward can run here
   *   (not webgpu, an unsupported model, or an input too long for one
   *   storage binding): the caller then uses `model.forward`/`prefill`.
   */
  run<T>(length: number, f: (fwd: GpuForward) => T): T | null {
    if (gpuForwardUnsupported(this.#model)) return null;
    const fwd = this.#get(length);
    return fwd ? f(fwd) : null;
  }

  /** Frees every forward held. */
  dispose(): void {
    for (const fwd of this.#byLength.values()) fwd.dispose();
    this.#byLength.clear();
  }

  #get(length: number): GpuForward | null {
    let fwd = this.#byLength.get(length);
    this.#byLength.delete(length); // re-inserted as the most recent
    if (fwd && !fwd.current) { // built before a weight was reassigned
      fwd.dispose();
      fwd = undefined;
    }
    if (!fwd) {
      try {
        fwd = new GpuForward(this.#model, {
          batch: 1,
          length,
          weights: "share",
        });
      } catch (error) {
        if (error instanceof RangeError) return null; // too long to bind
        throw error;
      }
      if (this.#byLength.size >= this.#capacity) {
        const [oldest, old] = this.#byLength.entries().next().value!;
        old.dispose();
        this.#byLength.delete(oldest);
      }
    }
    this.#byLength.set(length, fwd);
    return fwd;
  }
}
