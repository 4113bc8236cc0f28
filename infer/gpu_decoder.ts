/**
 * GPU-resident decode on the webgpu backend: the recurrent step as raw
 * WebGPU dispatches over buffers created once, several tokens per submit,
 * sampling on the GPU, the chosen token fed back without a readback, and one
 * readback of all tokens per round.
 *
 * A tfjs step costs ~100 tfjs ops with their JavaScript bookkeeping, and on
 * the H200 each readback costs ~12 ms (BENCHMARKS.md): a loop that reads the
 * logits back every token is capped near 80 tokens/s. Here a step is
 * 4·layers + 4 dispatches recorded from prebuilt bind groups, and a round of
 * `steps` tokens pays the readback once.
 *
 * Sequences live in slots 0..active-1 (removing one moves the last into its
 * place). Each slot carries its sampling settings, its SplitMix32 state (the
 * CPU `Rng`, so a slot continues the stream the CPU started) and the set of
 * tokens it has seen (repetition penalty).
 *
 * The weights are copied when the decoder is built: later changes to the
 * model's variables do not reach it.
 *
 * Reference: state-spaces/mamba `utils/generation.py` (`decode` with CUDA
 * graphs: a step captured once and replayed).
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import {
  bindGroup,
  flushTfjs,
  gpuBuffer,
  layoutOf,
  onSoftwareAdapter,
  pipeline,
  webgpuBackend,
} from "../kernels/webgpu/_dispatch.ts";
import {
  embedWgsl,
  matvecBindings,
  type MatvecConfig,
  matvecGroups,
  matvecKey,
  matvecWgsl,
  type NormSpec,
  normWgsl,
  ROW_THREADS,
  SAMPLER_FIELDS,
  samplerWgsl,
  scanStepLanes,
  scanStepWgsl,
} from "../kernels/webgpu/_wgsl_decode.ts";
import type { NormNode } from "../dsl/schema.ts";
import { lmHeadWeightName, normPrefixes } from "../models/init.ts";
import type { MambaModel, ModelState } from "../models/types.ts";
import type { SamplingConfig } from "./sampling.ts";
import { mamba1, notMamba1 } from "./_mamba1_only.ts";

/** Launch shapes of the decode step's kernels (see {@linkcode GpuDecoderOptions}). */
export type DecodeKernels = "narrow" | "wide";

/** Options of {@linkcode GpuDecoder}. */
export interface GpuDecoderOptions {
  /** Sequence slots (1–32, default 8). */
  maxBatch?: number;
  /** Most tokens per round (default 64). */
  maxSteps?: number;
  /**
   * Launch shapes of the step's kernels. `"wide"` (default on a hardware
   * adapter): lanes per row sized to each matrix (32 to 256) and one lane
   * per state group in the scan step; on the H200 it decodes the 130m shape
   * at 613 / 3500 tokens/s (batch 1 / 8) against 442 / 2419 for `"narrow"`
   * in the same run (BENCHMARKS.md). `"narrow"` (default on a software
   * adapter, where barriers run thread by thread): 32 lanes per matrix row,
   * one thread per scan channel.
   */
  kernels?: DecodeKernels;
}

/** What a new sequence brings into a slot. */
export interface SlotInit {
  /** Its state after the prompt (batch 1), from `model.prefill`. */
  state: ModelState;
  /** The token the next step feeds (the last one chosen). */
  token: number;
  /** How its tokens are chosen. */
  sampling: SamplingConfig;
  /** SplitMix32 state of its generator (the CPU `Rng`'s `snapshot().state`). */
  rngState: number;
  /** Token ids already in the sequence (repetition penalty). */
  seen: Iterable<number>;
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

interface Item {
  /** What the dispatch does, for profiles. */
  label: string;
  pipe: GPUComputePipeline;
  group: GPUBindGroup;
  /** Workgroups for `batch` active slots. */
  groups: (batch: number) => number;
}

/**
 * Why `model` cannot run on the GPU decoder, or null when it can.
 *
 * @param model the model.
 * @returns a reason, or null.
 */
export function gpuDecodeUnsupported(model: MambaModel): string | null {
  if (tf.getBackend() !== "webgpu") {
    return `backend is "${tf.getBackend()}", not "webgpu"`;
  }
  const plan = model.resolved.plan;
  if (plan[plan.length - 1].kind !== "lm_head") return "not an LM-head model";
  const other = model.resolved.layers.map(notMamba1).find((w) => w);
  if (other) return other;
  const narrow = model.resolved.layers.find((l) => l.mixer.dConv < 2);
  if (narrow) return `layer ${narrow.index}: conv width < 2`;
  return null;
}

const normSpec = (norm: NormNode, hasBias: boolean): NormSpec => ({
  kind: norm.kind,
  eps: norm.eps,
  bias: norm.kind === "layer_norm" && hasBias,
});

/**
 * The recurrent step of an LM-head model as prebuilt WebGPU work.
 *
 * @example
 * ```ts
 * import { GpuDecoder } from "./gpu_decoder.ts";
 * import { Rng } from "../models/_rng.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const decoder = new GpuDecoder(model, { maxBatch: 1 });
 * const { state } = model.prefill([[1, 2, 3]]);
 * await decoder.admit({ state, token: 4, rngState: new Rng(0).snapshot().state,
 *   seen: [1, 2, 3, 4], sampling: { greedy: true, temperature: 1, topK: 0,
 *   topP: 1, minP: 0, repetitionPenalty: 1 } });
 * const tokens = await decoder.run(16); // tokens[step][slot]
 * decoder.dispose();
 * ```
 */
export class GpuDecoder {
  readonly #device: GPUDevice;
  readonly #bmax: number;
  readonly #maxSteps: number;
  readonly #vocab: number;
  readonly #stride: number;
  readonly #words: number;
  readonly #buffers: GPUBuffer[] = [];
  /** Per-slot buffers and the bytes one slot takes in each. */
  readonly #slotted: { buffer: GPUBuffer; bytes: number }[] = [];
  readonly #items: Item[] = [];
  readonly #samplerGroups: GPUBindGroup[] = [];
  readonly #sampler: GPUComputePipeline;
  readonly #params: GPUBuffer;
  readonly #tokens: GPUBuffer;
  readonly #current: GPUBuffer;
  readonly #rng: GPUBuffer;
  readonly #seen: GPUBuffer;
  readonly #settings: GPUBuffer;
  readonly #logits: GPUBuffer;
  readonly #layerState: { conv: GPUBuffer; ssm: GPUBuffer }[] = [];
  readonly #move: GPUBuffer;
  #active = 0;

  /**
   * Copies the model's weights into new GPU buffers and builds every
   * pipeline and bind group of a step.
   *
   * @param model an LM-head model on the webgpu backend.
   * @param options slots and round length.
   * @throws Error when {@linkcode gpuDecodeUnsupported} gives a reason.
   */
  constructor(model: MambaModel, options: GpuDecoderOptions = {}) {
    const reason = gpuDecodeUnsupported(model);
    if (reason) throw new Error(`GpuDecoder: ${reason}`);
    const bmax = options.maxBatch ?? 8;
    if (!Number.isInteger(bmax) || bmax < 1 || bmax > 32) {
      throw new Error(
        `GpuDecoder: maxBatch: expected an integer in [1, 32], received ${bmax}`,
      );
    }
    const wide =
      (options.kernels ?? (onSoftwareAdapter() ? "narrow" : "wide")) ===
        "wide";
    if (
      options.kernels !== undefined &&
      !["narrow", "wide"].includes(options.kernels)
    ) {
      throw new Error(
        `GpuDecoder: kernels: expected "narrow" or "wide", received ${options.kernels}`,
      );
    }
    const maxSteps = options.maxSteps ?? 64;
    if (!Number.isInteger(maxSteps) || maxSteps < 1) {
      throw new Error(
        `GpuDecoder: maxSteps: expected an integer ≥ 1, received ${maxSteps}`,
      );
    }
    const backend = webgpuBackend();
    this.#device = backend.device;
    this.#bmax = bmax;
    this.#maxSteps = maxSteps;
    const r = model.resolved;
    const d = r.dModel;
    this.#vocab = r.vocab;
    this.#stride = r.paddedVocab;
    this.#words = Math.ceil(r.vocab / 32);
    const lmName = lmHeadWeightName(r);

    // Weights: copied from tfjs's buffers in one submit.
    const copies = this.#device.createCommandEncoder();
    const temporaries: tf.Tensor[] = [];
    const weight = (name: string): GPUBuffer => {
      const t = model.params.get(name);
      if (!t) throw new Error(`GpuDecoder: missing parameter ${name}`);
      return this.#copyOf(copies, backend, t);
    };
    const derived = (t: tf.Tensor): GPUBuffer => {
      temporaries.push(t);
      return this.#copyOf(copies, backend, t);
    };
    const maybe = (name: string) =>
      model.params.has(name) ? weight(name) : undefined;

    const maxIn = Math.max(...r.layers.map((l) => l.mixer.dInner));
    const maxDbc = Math.max(
      ...r.layers.map((l) => mamba1(l).dtRankValue + 2 * l.mixer.dState),
    );
    const h = this.#buffer(bmax * d * 4);
    const uz = this.#buffer(bmax * 2 * maxIn * 4);
    const dbc = this.#buffer(bmax * maxDbc * 4);
    const yIn = this.#buffer(bmax * maxIn * 4);
    this.#logits = this.#buffer(bmax * this.#stride * 4);
    const scratch = this.#buffer(bmax * this.#stride * 4);
    this.#tokens = this.#buffer(maxSteps * bmax * 4);
    this.#current = this.#slot(4);
    this.#rng = this.#slot(4);
    this.#seen = this.#slot(this.#words * 4);
    this.#settings = this.#slot(SAMPLER_FIELDS * 4);
    this.#params = this.#buffer(
      16,
      GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    );
    const embedding = weight("backbone.embeddings.weight");
    const lmHead = lmName === "backbone.embeddings.weight"
      ? embedding
      : weight(lmName);

    const group = (pipe: GPUComputePipeline, buffers: GPUBuffer[]) =>
      bindGroup(this.#device, pipe, buffers);
    const matvec = (
      label: string,
      config: MatvecConfig,
      named: Record<string, GPUBuffer>,
    ) => {
      const c = wide ? config : { ...config, lanes: 32 };
      const pipe = pipeline(this.#device, matvecKey(c), () => matvecWgsl(c));
      const buffers = matvecBindings(c).map((name) => named[name]);
      this.#items.push({
        label,
        pipe,
        group: group(pipe, buffers),
        groups: () => matvecGroups(c),
      });
    };

    const embedPipe = pipeline(
      this.#device,
      `decode_embed_${d}`,
      () => embedWgsl(d),
    );
    this.#items.push({
      label: "embedding",
      pipe: embedPipe,
      group: group(embedPipe, [h, embedding, this.#current, this.#params]),
      groups: (b) => Math.ceil((b * d) / ROW_THREADS),
    });

    const topPrefixes = normPrefixes(r);
    for (const step of r.plan) {
      if (step.kind === "residual") {
        const layer = r.layers[step.layer];
        const m = mamba1(layer);
        const { dInner: dIn, dState: n, dtRankValue: rank, dConv: kc } = m;
        const p = `backbone.layers.${step.layer}`;
        const conv = this.#slot((kc - 1) * dIn * 4);
        const ssm = this.#slot(dIn * n * 4);
        this.#layerState.push({ conv, ssm });
        const normBias = maybe(`${p}.norm.bias`);
        matvec("in_proj (norm, conv)", {
          k: d,
          nOut: 2 * dIn,
          xStride: d,
          bmax,
          norm: normSpec(layer.norm, normBias !== undefined),
          bias: model.params.has(`${p}.mixer.in_proj.bias`),
          epilogue: "conv",
          kc,
          convBias: model.params.has(`${p}.mixer.conv1d.bias`),
        }, {
          y: uz,
          w: weight(`${p}.mixer.in_proj.weight`),
          x: h,
          params: this.#params,
          gn: weight(`${p}.norm.weight`),
          bn: normBias!,
          bias: maybe(`${p}.mixer.in_proj.bias`)!,
          cs: conv,
          cw: weight(`${p}.mixer.conv1d.weight`),
          cb: maybe(`${p}.mixer.conv1d.bias`)!,
        });
        matvec("x_proj", {
          k: dIn,
          nOut: rank + 2 * n,
          xStride: 2 * dIn,
          bmax,
          bias: false,
          epilogue: "store",
        }, {
          y: dbc,
          w: weight(`${p}.mixer.x_proj.weight`),
          x: uz,
          params: this.#params,
        });
        const lanes = wide ? scanStepLanes(n) : 1;
        const scanPipe = pipeline(
          this.#device,
          `decode_scan_${dIn}_${n}_${rank}_${lanes}`,
          () => scanStepWgsl({ dIn, n, r: rank, lanes }),
        );
        const A = derived(
          tf.tidy(() => tf.neg(tf.exp(model.params.get(`${p}.mixer.A_log`)!))),
        );
        this.#items.push({
          label: "scan step (dt_proj, gate)",
          pipe: scanPipe,
          group: group(scanPipe, [
            yIn,
            ssm,
            uz,
            dbc,
            weight(`${p}.mixer.dt_proj.weight`),
            weight(`${p}.mixer.dt_proj.bias`),
            A,
            weight(`${p}.mixer.D`),
            this.#params,
          ]),
          groups: (b) => Math.ceil((b * dIn) / (ROW_THREADS / lanes)),
        });
        matvec("out_proj (+ residual)", {
          k: dIn,
          nOut: d,
          xStride: dIn,
          bmax,
          bias: model.params.has(`${p}.mixer.out_proj.bias`),
          epilogue: "accumulate",
        }, {
          y: h,
          w: weight(`${p}.mixer.out_proj.weight`),
          x: yIn,
          params: this.#params,
          bias: maybe(`${p}.mixer.out_proj.bias`)!,
        });
      } else if (step.kind === "norm") {
        const prefix = topPrefixes.get(step)!;
        const bias = maybe(`${prefix}.bias`);
        const spec = normSpec(step.norm, bias !== undefined);
        const pipe = pipeline(
          this.#device,
          `decode_norm_${d}_${bmax}_${spec.kind}${spec.eps}${+spec.bias}`,
          () => normWgsl(d, bmax, spec),
        );
        this.#items.push({
          label: "norm",
          pipe,
          group: group(pipe, [
            h,
            this.#params,
            weight(`${prefix}.weight`),
            ...(spec.bias ? [bias!] : []),
          ]),
          groups: () => 1,
        });
      } else if (step.kind === "lm_head") {
        matvec("lm_head", {
          k: d,
          nOut: this.#stride,
          xStride: d,
          bmax,
          bias: false,
          epilogue: "store",
        }, { y: this.#logits, w: lmHead, x: h, params: this.#params });
      }
    }
    flushTfjs(backend); // A = -exp(A_log) must be computed before it is copied
    this.#device.queue.submit([copies.finish()]);
    tf.dispose(temporaries);

    const samplerConfig = { vocab: this.#vocab, stride: this.#stride, bmax };
    this.#sampler = pipeline(
      this.#device,
      `decode_sample_${this.#vocab}_${this.#stride}_${bmax}`,
      () => samplerWgsl(samplerConfig),
    );
    const steps = this.#buffer(
      maxSteps * 256,
      GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    );
    const stepWords = new Uint32Array(maxSteps * 64);
    for (let s = 0; s < maxSteps; s++) stepWords[s * 64] = s;
    this.#device.queue.writeBuffer(steps, 0, stepWords);
    for (let s = 0; s < maxSteps; s++) {
      const entries = [
        this.#tokens,
        this.#current,
        this.#rng,
        this.#seen,
        this.#logits,
        this.#settings,
        scratch,
        this.#params,
      ].map((buffer, binding) => ({ binding, resource: { buffer } }));
      entries.push(
        {
          binding: 8,
          resource: { buffer: steps, offset: s * 256, size: 16 },
        } as GPUBindGroupEntry & { resource: GPUBufferBinding },
      );
      this.#samplerGroups.push(
        this.#device.createBindGroup({
          layout: layoutOf(this.#sampler),
          entries,
        }),
      );
    }
    const moveBytes = Math.max(...this.#slotted.map((s) => s.bytes));
    this.#move = this.#buffer(moveBytes);
  }

  /** Slots in use. */
  get active(): number {
    return this.#active;
  }

  /** Slots in all. */
  get capacity(): number {
    return this.#bmax;
  }

  /**
   * Puts a sequence into the next free slot.
   *
   * @param init its state, next token, sampling settings, generator state
   *   and seen tokens. The state tensors are read (copied on the GPU), not
   *   disposed.
   * @returns the slot index.
   * @throws Error when every slot is taken, the state has the wrong shape,
   *   or the token is out of the vocabulary.
   */
  admit(init: SlotInit): number {
    if (this.#active >= this.#bmax) {
      throw new Error(`GpuDecoder.admit: all ${this.#bmax} slots are taken`);
    }
    if (init.state.layers.length !== this.#layerState.length) {
      throw new Error(
        `GpuDecoder.admit: state.layers: expected ${this.#layerState.length} layers, received ${init.state.layers.length}`,
      );
    }
    if (
      !Number.isInteger(init.token) || init.token < 0 ||
      init.token >= this.#vocab
    ) {
      throw new Error(
        `GpuDecoder.admit: token: expected an integer id in [0, ${this.#vocab}), received ${init.token}`,
      );
    }
    const slot = this.#active;
    const backend = webgpuBackend();
    const encoder = this.#device.createCommandEncoder();
    init.state.layers.forEach((layer, i) => {
      const target = this.#layerState[i];
      for (
        const [t, dst] of [[layer.conv, target.conv], [
          layer.ssm,
          target.ssm,
        ]] as const
      ) {
        const bytes = t.size * 4;
        const per = this.#slotted.find((s) => s.buffer === dst)!.bytes;
        if (t.shape[0] !== 1 || bytes !== per) {
          throw new Error(
            `GpuDecoder.admit: state.layers[${i}]: expected batch 1 and ${
              per / 4
            } values, received shape [${t.shape}]`,
          );
        }
        encoder.copyBufferToBuffer(
          gpuBuffer(backend, t),
          0,
          dst,
          slot * bytes,
          bytes,
        );
      }
    });
    flushTfjs(backend); // the prefill that computed the state, first
    this.#device.queue.submit([encoder.finish()]);
    const q = this.#device.queue;
    q.writeBuffer(this.#current, slot * 4, new Uint32Array([init.token]));
    q.writeBuffer(this.#rng, slot * 4, new Uint32Array([init.rngState >>> 0]));
    const seen = new Uint32Array(this.#words);
    for (const id of init.seen) {
      if (id >= 0 && id < this.#vocab) seen[id >>> 5] |= 1 << (id & 31);
    }
    q.writeBuffer(this.#seen, slot * this.#words * 4, seen);
    const s = init.sampling;
    const settings = new Uint32Array(SAMPLER_FIELDS);
    const floats = new Float32Array(settings.buffer);
    settings[0] = s.greedy ? 1 : 0;
    floats[1] = s.temperature;
    settings[2] = s.topK;
    floats[3] = s.topP;
    floats[4] = s.minP;
    floats[5] = s.repetitionPenalty;
    q.writeBuffer(this.#settings, slot * SAMPLER_FIELDS * 4, settings);
    this.#active++;
    return slot;
  }

  /**
   * Frees a slot; the last slot moves into its place.
   *
   * @param slot a slot in [0, active).
   * @returns the slot that moved into `slot` (or `slot` itself when it was
   *   the last one).
   */
  remove(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.#active) {
      throw new Error(
        `GpuDecoder.remove: slot: expected an integer in [0, ${this.#active}), received ${slot}`,
      );
    }
    const last = --this.#active;
    if (last === slot) return slot;
    const encoder = this.#device.createCommandEncoder();
    for (const { buffer, bytes } of this.#slotted) {
      encoder.copyBufferToBuffer(buffer, last * bytes, this.#move, 0, bytes);
      encoder.copyBufferToBuffer(this.#move, 0, buffer, slot * bytes, bytes);
    }
    this.#device.queue.submit([encoder.finish()]);
    return last;
  }

  /** Frees every slot (their contents are overwritten by later admits). */
  clear(): void {
    this.#active = 0;
  }

  /**
   * Decodes `steps` tokens for every active slot in one submit.
   *
   * @param steps tokens per slot, in [1, maxSteps].
   * @returns tokens[step][slot].
   */
  async run(steps: number): Promise<number[][]> {
    if (!Number.isInteger(steps) || steps < 1 || steps > this.#maxSteps) {
      throw new Error(
        `GpuDecoder.run: steps: expected an integer in [1, ${this.#maxSteps}], received ${steps}`,
      );
    }
    const batch = this.#active;
    if (batch === 0) return Array.from({ length: steps }, () => []);
    this.#device.queue.writeBuffer(
      this.#params,
      0,
      new Uint32Array([batch, 0, 0, 0]),
    );
    const encoder = this.#device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let s = 0; s < steps; s++) {
      for (const item of this.#items) {
        pass.setPipeline(item.pipe);
        pass.setBindGroup(0, item.group);
        pass.dispatchWorkgroups(item.groups(batch));
      }
      pass.setPipeline(this.#sampler);
      pass.setBindGroup(0, this.#samplerGroups[s]);
      pass.dispatchWorkgroups(batch);
    }
    pass.end();
    const bytes = steps * this.#bmax * 4;
    const data = await this.#read(encoder, this.#tokens, bytes);
    const words = new Uint32Array(data);
    return Array.from(
      { length: steps },
      (_, s) =>
        Array.from(words.subarray(s * this.#bmax, s * this.#bmax + batch)),
    );
  }

  /**
   * GPU time of each kind of dispatch in one step, for the active slots:
   * each dispatch is repeated in one pass (the state it updates drifts; only
   * the time is kept), `repeats` and 4·`repeats` times, each timed by wall
   * clock around one submit; the difference cancels the submit latency.
   *
   * @param repeats dispatches per short measurement.
   * @returns per label: dispatches per step and ms per step.
   */
  async profile(
    repeats = 100,
  ): Promise<{ label: string; count: number; ms: number }[]> {
    const batch = Math.max(1, this.#active);
    this.#device.queue.writeBuffer(
      this.#params,
      0,
      new Uint32Array([batch, 0, 0, 0]),
    );
    const time = async (items: Item[], n: number) => {
      const encoder = this.#device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let i = 0; i < n; i++) {
        for (const item of items) {
          pass.setPipeline(item.pipe);
          pass.setBindGroup(0, item.group);
          pass.dispatchWorkgroups(item.groups(batch));
        }
      }
      pass.end();
      const start = performance.now();
      this.#device.queue.submit([encoder.finish()]);
      await this.#device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
    const perCall = async (items: Item[]) => {
      await time(items, 2); // warm
      const short = await time(items, repeats);
      return (await time(items, 4 * repeats) - short) / (3 * repeats);
    };
    const sampler: Item = {
      label: "sampler",
      pipe: this.#sampler,
      group: this.#samplerGroups[0],
      groups: (b) => b,
    };
    const all = [...this.#items, sampler];
    const rows = new Map<string, { count: number; ms: number }>();
    for (const item of all) {
      const row = rows.get(item.label);
      if (row) row.count++;
      else rows.set(item.label, { count: 1, ms: await perCall([item]) });
    }
    return [
      ...[...rows].map(([label, r]) => ({
        label,
        count: r.count,
        ms: r.ms * r.count,
      })),
      { label: "whole step", count: all.length, ms: await perCall(all) },
    ];
  }

  /**
   * The logits of the last step (for tests and debugging).
   *
   * @returns (active, padded vocab) row-major.
   */
  async logits(): Promise<Float32Array> {
    const bytes = this.#active * this.#stride * 4;
    if (bytes === 0) return new Float32Array(0);
    const encoder = this.#device.createCommandEncoder();
    return new Float32Array(await this.#read(encoder, this.#logits, bytes));
  }

  /** Frees every buffer (the model is left intact). */
  dispose(): void {
    for (const b of this.#buffers) b.destroy();
    this.#buffers.length = 0;
    this.#active = 0;
  }

  async #read(
    encoder: GPUCommandEncoder,
    source: GPUBuffer,
    bytes: number,
  ): Promise<ArrayBuffer> {
    const staging = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      encoder.copyBufferToBuffer(source, 0, staging, 0, bytes);
      this.#device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0);
    } finally {
      staging.destroy();
    }
  }

  #buffer(bytes: number, usage = STORAGE): GPUBuffer {
    const buffer = this.#device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage,
    });
    this.#buffers.push(buffer);
    return buffer;
  }

  /** A zeroed buffer of `bytes` per slot. */
  #slot(bytes: number): GPUBuffer {
    const buffer = this.#buffer(bytes * this.#bmax);
    this.#slotted.push({ buffer, bytes });
    return buffer;
  }

  #copyOf(
    encoder: GPUCommandEncoder,
    backend: ReturnType<typeof webgpuBackend>,
    t: tf.Tensor,
  ): GPUBuffer {
    const bytes = t.size * 4;
    const buffer = this.#buffer(bytes);
    encoder.copyBufferToBuffer(gpuBuffer(backend, t), 0, buffer, 0, bytes);
    return buffer;
  }
}
