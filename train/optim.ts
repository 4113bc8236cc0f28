/**
 * AdamW with parameter groups, warmup + cosine schedule, global-norm clipping
 * and gradient accumulation, over the model's named `tf.Variable`s.
 *
 * No weight decay on `A_log`, `D`, norm weights and biases, as the official
 * implementation (`_no_weight_decay` on A_log and D; norms and biases excluded
 * in its training recipe).
 *
 * Reference: Loshchilov & Hutter 2019, "Decoupled Weight Decay
 * Regularization" (torch.optim.AdamW); state-spaces/mamba `mamba_simple.py`.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";

/** Hyperparameters of {@linkcode AdamW}. */
export interface AdamWOptions {
  /** Peak learning rate. */
  lr: number;
  /** β1 (default 0.9). */
  beta1?: number;
  /** β2 (default 0.999). */
  beta2?: number;
  /** ε (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay for the decayed group (default 0.1). */
  weightDecay?: number;
}

/**
 * Whether a parameter is in the no-decay group.
 * @param name Hugging Face name such as `backbone.layers.3.mixer.A_log`.
 * @returns true for A_log, D, norm weights and every bias (Mamba-2's
 *   `dt_bias` included, `_no_weight_decay` in the official `Mamba2`).
 */
export function noWeightDecay(name: string): boolean {
  return /(^|\.)A_log$/.test(name) || /(^|\.)D$/.test(name) ||
    /(^|\.)(dt_)?bias$/.test(name) || // Mamba-2's dt_bias, as the official
    /(^|\.)(norm|norm_f|layernorm|ln[^.]*)\.weight$/.test(name);
}

/**
 * Learning rate at an optimizer step: linear warmup from 0, then cosine decay
 * to `minLr` at `totalSteps` (constant after).
 * @param step 0-based optimizer step.
 * @param s schedule.
 * @returns the learning rate.
 */
export function lrAt(
  step: number,
  s: { lr: number; warmupSteps: number; totalSteps: number; minLr: number },
): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const p = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * p));
}

/**
 * Adds one micro-batch's gradients into a running sum (disposes the inputs).
 * @param sum the running sum, or undefined for the first micro-batch.
 * @param grads this micro-batch's gradients by name.
 * @returns the new sum.
 */
export function accumulate(
  sum: Map<string, tf.Tensor> | undefined,
  grads: Map<string, tf.Tensor>,
): Map<string, tf.Tensor> {
  if (!sum) return grads;
  for (const [name, g] of grads) {
    const prev = sum.get(name)!;
    sum.set(name, tf.add(prev, g));
    prev.dispose();
    g.dispose();
  }
  return sum;
}

/**
 * Σ g² as a scalar, in two steps: g's values as (rows, size / rows), rows the
 * largest divisor of the size up to √size, summed along each row, then those
 * sums. tfjs's WebGPU backend reduces a tensor to one value in a single
 * workgroup (about 20 ms per 100 MB on the H200: an embedding's gradient alone
 * would take ~30 ms per step); the first step runs one workgroup per row.
 *
 * @param g a gradient.
 * @returns Σ g² (a scalar tensor).
 */
export function sumOfSquares(g: tf.Tensor): tf.Tensor {
  let rows = Math.floor(Math.sqrt(g.size));
  while (rows > 1 && g.size % rows !== 0) rows--;
  return tf.tidy(() => {
    const sq = tf.square(g);
    return rows > 1
      ? tf.sum(tf.sum(sq.reshape([rows, g.size / rows]), 1))
      : tf.sum(sq);
  });
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm`.
 * @param grads gradients by name (replaced in place).
 * @param maxNorm the bound (≤ 0 or Infinity: no clipping).
 * @returns the norm before clipping.
 */
export async function clipGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): Promise<number> {
  const sq = tf.tidy(() => tf.addN([...grads.values()].map(sumOfSquares)));
  const norm = Math.sqrt((await sq.data())[0]);
  sq.dispose();
  if (maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, scale));
      g.dispose();
    }
  }
  return norm;
}

/** Serializable optimizer state: step count and moments by parameter name. */
export interface AdamWState {
  /** Updates applied so far. */
  step: number;
  /** First moments by parameter name. */
  m: Map<string, Float32Array>;
  /** Second moments by parameter name. */
  v: Map<string, Float32Array>;
}

/** AdamW over named variables. */
export class AdamW {
  /** Number of updates applied. */
  step = 0;
  #m = new Map<string, tf.Variable>();
  #v = new Map<string, tf.Variable>();

  /**
   * @param params the model's variables by name.
   * @param options hyperparameters.
   */
  constructor(
    readonly params: Map<string, tf.Variable>,
    readonly options: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      this.#m.set(name, tf.variable(tf.zerosLike(p), false));
      this.#v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * One update: p ← p − lr·(m̂/(√v̂+ε) + wd·p), wd = 0 for the no-decay group.
   * @param grads gradients by name (not disposed).
   * @param lr this step's learning rate.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    const b1 = this.options.beta1 ?? 0.9;
    const b2 = this.options.beta2 ?? 0.999;
    const eps = this.options.eps ?? 1e-8;
    const wd = this.options.weightDecay ?? 0.1;
    this.step++;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.#m.get(name)!;
      const v = this.#v.get(name)!;
      const decay = noWeightDecay(name) ? 0 : wd;
      tf.tidy(() => {
        const m2 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        const update = tf.div(
          tf.div(m2, c1),
          tf.add(tf.sqrt(tf.div(v2, c2)), eps),
        );
        const decayed = decay > 0 ? tf.mul(p, 1 - lr * decay) : p;
        m.assign(m2);
        v.assign(v2);
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    }
  }

  /** @returns a copy of the state, for checkpoints. */
  async state(): Promise<AdamWState> {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const [name, t] of this.#m) {
      m.set(name, (await t.data()) as Float32Array);
    }
    for (const [name, t] of this.#v) {
      v.set(name, (await t.data()) as Float32Array);
    }
    return { step: this.step, m, v };
  }

  /**
   * Restores a saved state.
   * @param state from {@linkcode AdamW.state}.
   * @param source file name for errors.
   * @throws Error naming the file and the missing or mis-sized tensor.
   */
  load(state: AdamWState, source: string): void {
    for (
      const [kind, moments, vars] of [["m", state.m, this.#m], [
        "v",
        state.v,
        this.#v,
      ]] as const
    ) {
      for (const [name, t] of vars) {
        const data = moments.get(name);
        if (!data || data.length !== t.size) {
          throw new Error(
            `${source}: tensor "${kind}.${name}": expected ${t.size} values, received ${
              data ? data.length : "none"
            }`,
          );
        }
        tf.tidy(() => t.assign(tf.tensor(data, t.shape)));
      }
    }
    this.step = state.step;
  }

  /** Frees the moments. */
  dispose(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
  }
}
