/**
 * The decode engine: continuous batching of independent sequences over the
 * recurrent step.
 *
 * Each new sequence is prefilled alone (batch 1, parallel forward, no padding
 * anywhere), and its state is then stacked onto the running batch; every
 * iteration runs one batched `step` for all running sequences, reads the
 * logits back once, and chooses each row's token on the CPU with the row's
 * own seeded generator. Finished rows are dropped from the batch by a gather.
 * Because no row is ever padded and each row's sampler is its own, a
 * sequence's tokens do not depend on what else was running (up to the
 * backend's batch-size-dependent float rounding, which the tests bound).
 *
 * Sequences are admitted first come, first served, at most `admitPerStep`
 * per iteration so that running sequences keep moving while a queue drains.
 *
 * On the webgpu backend the running sequences live in a {@linkcode GpuDecoder}
 * instead: an iteration decodes a round of up to `roundTokens` tokens per
 * sequence on the GPU (sampling included, same filters and the same seeded
 * stream as the CPU sampler) and reads them back once; tokens past a
 * sequence's end are dropped, and prompts are prefilled by a prebuilt
 * {@linkcode GpuForward} per prompt length (the last few lengths kept; they
 * share the model's weight buffers). The decoder (a copy of the weights) and
 * the prefills are freed whenever the engine falls idle. Models those
 * decline (Mamba-2, Falcon-Mamba, mixed stacks) run on webgpu through the
 * program's WebGPU executor instead (`_program_gpu.ts`): the prefill program
 * per prompt, the step program per batched step (read back each token);
 * what the executor refuses runs as the model's tfjs ops.
 *
 * Reference: Mamba's recurrent `step` (state-spaces/mamba
 * `utils/generation.py`, `decode`); continuous batching as in Orca (OSDI '22).
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { tf } from "../kernels/backend.ts";
import type { MambaModel, ModelState } from "../models/types.ts";
import type { TextTokenizer } from "../train/tokenizers.ts";
import type { ResolvedGenerateOptions } from "./options.ts";
import { Rng } from "../models/_rng.ts";
import { chooseToken } from "./sampling.ts";
import { concatStates, disposeState, gatherState } from "./_state.ts";
import { TextStream } from "./_text_stream.ts";
import {
  type DecodeKernels,
  GpuDecoder,
  gpuDecodeUnsupported,
} from "./gpu_decoder.ts";
import { GpuForwardCache } from "./gpu_forward.ts";
import {
  programGpuUnsupported,
  programPrefill,
  programStep,
} from "./_program_gpu.ts";

/** Why a sequence ended. */
export type FinishReason = "length" | "stop" | "aborted";

/** One generated token, as streamed. */
export interface TokenEvent {
  /** The token id. */
  token: number;
  /** Its position among the generated tokens (0-based). */
  index: number;
  /** Text that became final with this token ("" while held back); tokenizer only. */
  text?: string;
}

/** Result of one sequence. */
export interface GenerationResult {
  /** The prompt. */
  promptIds: number[];
  /** Generated tokens only (a stop token id, when hit, is included). */
  outputIds: number[];
  /** Decoded output, cut before a stop string; tokenizer only. */
  text?: string;
  /** Why generation ended. */
  finishReason: FinishReason;
  /** The sampler's seed (reuse it to reproduce a sampled run). */
  seed: number;
  /** Milliseconds: waiting in the queue, to the first token, in total. */
  timings: { queuedMs: number; firstTokenMs: number; totalMs: number };
}

/** Callbacks of one submitted sequence. */
export interface SubmitHooks {
  /** Called for every generated token, in order. */
  onToken?: (event: TokenEvent) => void;
  /** Aborting ends the sequence with finishReason "aborted". */
  signal?: AbortSignal;
}

/** Options of {@linkcode DecodeEngine}. */
export interface DecodeEngineOptions {
  /** Most sequences decoded together (default 16). */
  maxBatch?: number;
  /** Most sequences prefilled between two decode steps (default 4). */
  admitPerStep?: number;
  /** Decodes text and applies stop strings. */
  tokenizer?: TextTokenizer;
  /**
   * Decode on the GPU with a {@linkcode GpuDecoder} where the model allows it
   * (webgpu backend, LM head), or with the program's WebGPU executor for
   * the models it declines (Mamba-2, Falcon-Mamba, mixed stacks). Default true.
   */
  gpuDecode?: boolean;
  /**
   * GPU decode: most tokens per sequence per round trip (default 128). Rounds
   * start at 8 tokens after a sequence joins and double up to this, so the
   * first tokens stream early and long runs pay the ~12 ms readback rarely.
   */
  roundTokens?: number;
  /** GPU decode: the step's launch shapes (see `GpuDecoderOptions` in gpu_decoder.ts). */
  gpuKernels?: DecodeKernels;
  /**
   * GPU decode: prefill prompts with a prebuilt {@linkcode GpuForward} per
   * prompt length (the executor's prefill program on its path) instead of
   * `model.prefill`'s tfjs ops (default true).
   */
  gpuPrefill?: boolean;
}

interface Row {
  prompt: number[];
  options: ResolvedGenerateOptions;
  hooks: SubmitHooks;
  rng: Rng;
  context: number[];
  generated: number[];
  text?: TextStream;
  submitted: number;
  admitted: number;
  firstToken: number;
  resolve: (result: GenerationResult) => void;
  reject: (error: unknown) => void;
}

/** A GPU round in flight: its length and its tokens[step][slot]. */
interface Round {
  steps: number;
  tokens: Promise<number[][]>;
}

const now = () => performance.now();
/**
 * Lets timers and I/O (new HTTP requests) run between decode steps.
 * `setImmediate` costs ~0.3 ms here, where `setTimeout(0)` is clamped to
 * ~3 ms once nested (a cap near 300 tokens/s); a MessageChannel round trip
 * is cheaper still but does not let the server accept connections.
 */
const yieldToEventLoop = () =>
  new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Decodes many sequences at once with the model's recurrent step.
 *
 * @example
 * ```ts
 * import { DecodeEngine } from "./engine.ts";
 * import { resolveGenerateOptions } from "./options.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const engine = new DecodeEngine(model, { maxBatch: 8 });
 * const result = await engine.submit([1, 2, 3], resolveGenerateOptions({ maxNewTokens: 4 }));
 * ```
 */
export class DecodeEngine {
  readonly #model: MambaModel;
  readonly #maxBatch: number;
  readonly #admitPerStep: number;
  readonly #tokenizer?: TextTokenizer;
  readonly #gpuDecode: boolean;
  readonly #roundTokens: number;
  readonly #gpuKernels: DecodeKernels | undefined;
  readonly #gpuPrefill: boolean;
  #decoder: GpuDecoder | null = null;
  /** Webgpu, a model the decoder declines: the program's executor. */
  #program = false;
  /** Prebuilt prefills by prompt length (GPU decode only). */
  readonly #prefills: GpuForwardCache;
  #ahead: Round | null = null;
  /** Tokens of the next GPU round: 8 after a join, doubling to roundTokens. */
  #roundSize: number;
  #pending: Row[] = [];
  #rows: Row[] = [];
  #state: ModelState | null = null;
  #loop: Promise<void> | null = null;

  /**
   * Creates an idle engine; decoding starts with the first submit.
   * @param model an LM-head model.
   * @param options batch limits and the tokenizer.
   */
  constructor(model: MambaModel, options: DecodeEngineOptions = {}) {
    this.#model = model;
    this.#maxBatch = options.maxBatch ?? 16;
    this.#admitPerStep = options.admitPerStep ?? 4;
    this.#tokenizer = options.tokenizer;
    this.#gpuDecode = options.gpuDecode ?? true;
    this.#roundTokens = options.roundTokens ?? 128;
    this.#gpuKernels = options.gpuKernels;
    this.#gpuPrefill = options.gpuPrefill ?? true;
    this.#prefills = new GpuForwardCache(model);
    if (!Number.isInteger(this.#roundTokens) || this.#roundTokens < 1) {
      throw new Error(
        `DecodeEngine: roundTokens: expected an integer ≥ 1, received ${this.#roundTokens}`,
      );
    }
    this.#roundSize = this.#firstRound;
  }

  get #firstRound(): number {
    return Math.min(8, this.#roundTokens);
  }

  /** Sequences being decoded now. */
  get running(): number {
    return this.#rows.length;
  }

  /** Sequences waiting for a place in the batch. */
  get queued(): number {
    return this.#pending.length;
  }

  /**
   * Queues one sequence.
   *
   * @param promptIds the prompt (≥ 1 id, each in the vocabulary: the caller checks).
   * @param options resolved generation options (numBeams must be 1).
   * @param hooks token callback and abort signal.
   * @returns the result once the sequence ends.
   */
  submit(
    promptIds: number[],
    options: ResolvedGenerateOptions,
    hooks: SubmitHooks = {},
  ): Promise<GenerationResult> {
    if (options.numBeams !== 1) {
      throw new Error(
        `DecodeEngine.submit: numBeams: expected 1 (use beamSearch), received ${options.numBeams}`,
      );
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({
        prompt: promptIds,
        options,
        hooks,
        rng: new Rng(options.seed),
        context: [...promptIds],
        generated: [],
        text: this.#tokenizer
          ? new TextStream(this.#tokenizer, options.stop)
          : undefined,
        submitted: now(),
        admitted: 0,
        firstToken: 0,
        resolve,
        reject,
      });
      this.#loop ??= this.#run().finally(() => {
        this.#loop = null;
        this.#decoder?.dispose();
        this.#decoder = null;
        this.#prefills.dispose();
      });
    });
  }

  /**
   * Waits until nothing is queued or running.
   * @returns a promise that resolves then.
   */
  async idle(): Promise<void> {
    while (this.#loop) await this.#loop;
  }

  async #run(): Promise<void> {
    if (this.#gpuDecode && !gpuDecodeUnsupported(this.#model)) {
      // Slot counts 8 or 32 only: each count is a shader variant to compile.
      this.#decoder = new GpuDecoder(this.#model, {
        maxBatch: this.#maxBatch <= 8 ? 8 : 32,
        maxSteps: this.#roundTokens,
        kernels: this.#gpuKernels,
      });
    }
    this.#program = this.#gpuDecode && !this.#decoder &&
      programGpuUnsupported(this.#model) === null &&
      this.#model.resolved.plan.at(-1)!.kind === "lm_head";
    const maxBatch = Math.min(
      this.#maxBatch,
      this.#decoder?.capacity ?? Infinity,
    );
    while (this.#pending.length > 0 || this.#rows.length > 0) {
      let admitted = 0;
      while (
        this.#pending.length > 0 && this.#rows.length < maxBatch &&
        admitted < this.#admitPerStep && !this.#ahead
      ) {
        const row = this.#pending.shift()!;
        admitted++;
        try {
          await this.#admit(row);
        } catch (error) {
          row.reject(error);
        }
      }
      if (this.#rows.length > 0) {
        try {
          await (this.#decoder ? this.#round(this.#decoder) : this.#step());
        } catch (error) {
          for (const row of this.#rows) row.reject(error);
          this.#rows = [];
          if (this.#state) disposeState(this.#state);
          this.#state = null;
          this.#ahead?.tokens.catch(() => {}); // its error is this one
          this.#ahead = null;
          this.#decoder?.clear();
        }
      }
      await yieldToEventLoop();
    }
  }

  /** Prefills one sequence alone and joins it to the batch. */
  async #admit(row: Row): Promise<void> {
    row.admitted = now();
    if (row.hooks.signal?.aborted) return this.#finish(row, "aborted");
    const { logits, state } = this.#prefill(row.prompt); // (1, 1, v), or (1, l, v) from a model that ignores lastOnly
    const [, l, v] = logits.shape;
    const last = tf.tidy(() => logits.slice([0, l - 1, 0], [1, 1, v])); // (1, 1, v)
    logits.dispose();
    let data: Float32Array;
    try {
      data = await last.data() as Float32Array;
    } finally {
      last.dispose();
    }
    if (this.#accept(row, data)) return disposeState(state);
    if (this.#decoder) {
      try {
        this.#decoder.admit({
          state,
          token: row.generated[row.generated.length - 1],
          sampling: row.options.sampling,
          rngState: row.rng.snapshot().state,
          seen: row.context,
        });
      } finally {
        disposeState(state);
      }
      this.#rows.push(row);
      this.#roundSize = this.#firstRound;
      return;
    }
    const joined = this.#state ? concatStates([this.#state, state]) : state;
    if (this.#state) {
      disposeState(this.#state);
      disposeState(state);
    }
    this.#state = joined;
    this.#rows.push(row);
  }

  /**
   * The prompt's last logits and state: with the GPU decoder, from a
   * prebuilt forward for its length (`GpuForwardCache`); on the executor
   * path, from its prefill program; else `model.prefill`.
   */
  #prefill(prompt: number[]): { logits: tf.Tensor3D; state: ModelState } {
    const viaGpu = !this.#gpuPrefill
      ? null
      : this.#decoder
      ? this.#prefills.run(
        prompt.length,
        (fwd) => fwd.prefill([prompt], { lastOnly: true }),
      )
      : this.#program
      ? programPrefill(this.#model, prompt)
      : null;
    return viaGpu ?? this.#model.prefill([prompt], { lastOnly: true });
  }

  /** One batched recurrent step for every running sequence. */
  async #step(): Promise<void> {
    const rows = this.#rows;
    const ids = rows.map((r) => r.generated[r.generated.length - 1]);
    const { logits, state } = // (b, v)
      (this.#program ? programStep(this.#model, ids, this.#state!) : null) ??
        this.#model.step(ids, this.#state!);
    disposeState(this.#state!);
    this.#state = state;
    const v = logits.shape[1];
    let data: Float32Array;
    try {
      data = await logits.data() as Float32Array;
    } finally {
      logits.dispose();
    }
    const keep: number[] = [];
    rows.forEach((row, i) => {
      const done = row.hooks.signal?.aborted
        ? (this.#finish(row, "aborted"), true)
        : this.#accept(row, data.subarray(i * v, (i + 1) * v));
      if (!done) keep.push(i);
    });
    if (keep.length === rows.length) return;
    this.#rows = keep.map((i) => rows[i]);
    const old = this.#state;
    this.#state = keep.length > 0 ? gatherState(old, keep) : null;
    disposeState(old);
  }

  /**
   * One GPU round: up to `roundTokens` tokens for every running sequence.
   * Rows are kept in the decoder's slot order (row i is slot i). The next
   * round is submitted before this one is read back, so the GPU decodes
   * while the readback waits, unless a sequence is waiting to join.
   */
  async #round(decoder: GpuDecoder): Promise<void> {
    const rows = this.#rows;
    const left = () =>
      Math.max(...rows.map((r) => r.options.maxNewTokens - r.generated.length));
    const current = this.#ahead ?? this.#submitRound(decoder, left());
    this.#ahead = null;
    const after = left() - current.steps;
    if (after > 0 && this.#pending.length === 0) {
      this.#ahead = this.#submitRound(decoder, after);
    }
    const finished = new Set<number>();
    this.#takeRound(await current.tokens, finished);
    if (finished.size === 0) return;
    if (this.#ahead) {
      // Drain it before slots move: its tokens continue the running rows.
      const ahead = this.#ahead;
      this.#ahead = null;
      this.#takeRound(await ahead.tokens, finished);
    }
    // Highest slot first: the slot that moves in is always a running one.
    for (const slot of [...finished].sort((a, b) => b - a)) {
      rows[slot] = rows[decoder.remove(slot)];
      rows.length = decoder.active;
    }
  }

  #submitRound(decoder: GpuDecoder, left: number): Round {
    const steps = Math.min(this.#roundSize, left);
    this.#roundSize = Math.min(2 * this.#roundSize, this.#roundTokens);
    return { steps, tokens: decoder.run(steps) };
  }

  /** Hands a round's tokens (tokens[step][slot]) to the running rows. */
  #takeRound(tokens: number[][], finished: Set<number>): void {
    this.#rows.forEach((row, slot) => {
      if (finished.has(slot) || slot >= tokens[0].length) return;
      if (row.hooks.signal?.aborted) {
        this.#finish(row, "aborted");
        finished.add(slot);
        return;
      }
      for (const step of tokens) {
        if (this.#take(row, step[slot])) {
          finished.add(slot);
          break;
        }
      }
    });
  }

  /** Chooses the row's next token; @returns whether the row has finished. */
  #accept(row: Row, logits: Float32Array): boolean {
    const vocab = this.#model.resolved?.vocab ?? logits.length;
    const token = chooseToken(
      logits.subarray(0, vocab),
      row.options.sampling,
      row.context,
      row.rng,
    );
    return this.#take(row, token);
  }

  /** Appends a chosen token; @returns whether the row has finished. */
  #take(row: Row, token: number): boolean {
    if (row.generated.length === 0) row.firstToken = now();
    row.generated.push(token);
    row.context.push(token);
    const delta = row.text?.push(token);
    let reason: FinishReason | null = null;
    if (row.options.stopTokenIds.includes(token)) reason = "stop";
    else if (row.text?.stopped) reason = "stop";
    else if (row.generated.length >= row.options.maxNewTokens) {
      reason = "length";
    }
    const tail = reason && row.text ? row.text.flush() : "";
    row.hooks.onToken?.({
      token,
      index: row.generated.length - 1,
      ...(row.text ? { text: (delta ?? "") + tail } : {}),
    });
    if (reason) this.#finish(row, reason);
    return reason !== null;
  }

  #finish(row: Row, finishReason: FinishReason): void {
    const end = now();
    row.resolve({
      promptIds: row.prompt,
      outputIds: row.generated,
      ...(row.text ? { text: row.text.text } : {}),
      finishReason,
      seed: row.options.seed,
      timings: {
        queuedMs: row.admitted - row.submitted,
        firstTokenMs: (row.firstToken || end) - row.submitted,
        totalMs: end - row.submitted,
      },
    });
  }
}
