/**
 * Next-token choice from one row of logits: repetition penalty, temperature,
 * top-k, top-p (nucleus), min-p, then greedy argmax or a seeded draw.
 *
 * Everything here works on plain `Float32Array` rows on the CPU: a decode step
 * reads its logits back once and each row is processed here, so a row's
 * result never depends on which other rows shared its batch.
 *
 * Reference: Hugging Face `generation/logits_process.py`
 * (`RepetitionPenaltyLogitsProcessor`, `TemperatureLogitsWarper`,
 * `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`), applied in that
 * order as `GenerationMixin._get_logits_processor` does.
 *
 * @module
 */
/** A source of uniform floats in [0, 1) (e.g. the project's seeded `Rng`). */
export interface UniformSource {
  /** @returns the next uniform float in [0, 1). */
  next(): number;
}

/** How the next token is chosen (validated upstream by `GenerateOptionsSchema`). */
export interface SamplingConfig {
  /** Argmax instead of a random draw (temperature, top-k/p, min-p ignored). */
  greedy: boolean;
  /** Logits are divided by this before the softmax (> 0). */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose mass reaches p; 1 keeps all. */
  topP: number;
  /** Drop tokens whose probability is below minP × the top probability; 0 keeps all. */
  minP: number;
  /** HF/CTRL penalty on tokens already seen (prompt and output); 1 is none. */
  repetitionPenalty: number;
}

/**
 * CTRL's repetition penalty, in place: a seen token's logit is divided by
 * `penalty` when positive and multiplied by it when negative.
 *
 * @param logits (v) one row, modified in place.
 * @param seen token ids already in the sequence (each penalised once).
 * @param penalty > 0; 1 leaves the row unchanged.
 */
export function applyRepetitionPenalty(
  logits: Float32Array,
  seen: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= logits.length) continue;
    const x = logits[id];
    logits[id] = x > 0 ? x / penalty : x * penalty;
  }
}

/**
 * @param logits (v) one row.
 * @returns the index of the largest value (the lowest index on ties, as
 *   `torch.argmax`).
 */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

/**
 * The probabilities the sampler draws from, after temperature, top-k, top-p
 * and min-p; dropped tokens have probability 0.
 *
 * @param logits (v) one row (repetition penalty already applied).
 * @param config the sampling options.
 * @returns (v) probabilities summing to 1, as float64.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  config: Omit<SamplingConfig, "greedy" | "repetitionPenalty">,
): Float64Array {
  const v = logits.length;
  const probs = new Float64Array(v);
  let max = -Infinity;
  for (let i = 0; i < v; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < v; i++) {
    probs[i] = Math.exp((logits[i] - max) / config.temperature);
    sum += probs[i];
  }
  for (let i = 0; i < v; i++) probs[i] /= sum;
  // Every filter is a threshold on probability: tokens at or above it stay
  // (ties at the threshold all stay). One native sort serves top-k and top-p.
  let threshold = 0;
  if ((config.topK > 0 && config.topK < v) || config.topP < 1) {
    const sorted = Float64Array.from(probs).sort().reverse(); // descending
    let keep = config.topK > 0 ? Math.min(config.topK, v) : v;
    if (config.topP < 1) {
      let mass = 0;
      for (let r = 0; r < keep; r++) {
        mass += sorted[r];
        if (mass >= config.topP) {
          keep = r + 1;
          break;
        }
      }
    }
    threshold = sorted[keep - 1];
  }
  if (config.minP > 0) {
    let top = 0;
    for (let i = 0; i < v; i++) top = Math.max(top, probs[i]);
    threshold = Math.max(threshold, config.minP * top);
  }
  for (let i = 0; i < v; i++) if (probs[i] < threshold) probs[i] = 0;
  let kept = 0;
  for (let i = 0; i < v; i++) kept += probs[i];
  for (let i = 0; i < v; i++) probs[i] /= kept;
  return probs;
}

/**
 * Chooses the next token of one sequence.
 *
 * @param logits (v) one row of raw logits; it is copied, not modified.
 * @param config the sampling options.
 * @param context token ids seen so far (prompt and output), for the penalty.
 * @param rng the sequence's own generator (one draw per sampled token).
 * @returns the chosen token id.
 * @example
 * ```ts
 * import { chooseToken } from "./sampling.ts";
 * import { Rng } from "../models/_rng.ts";
 * const id = chooseToken(new Float32Array([0, 2, 1]), {
 *   greedy: false, temperature: 0.8, topK: 2, topP: 1, minP: 0,
 *   repetitionPenalty: 1,
 * }, [], new Rng(0));
 * ```
 */
export function chooseToken(
  logits: Float32Array,
  config: SamplingConfig,
  context: Iterable<number>,
  rng: UniformSource,
): number {
  const row = Float32Array.from(logits);
  applyRepetitionPenalty(row, context, config.repetitionPenalty);
  if (config.greedy) return argmax(row);
  const probs = samplingDistribution(row, config);
  const u = rng.next();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    cumulative += probs[i];
    last = i;
    if (u < cumulative) return i;
  }
  return last; // u landed in the rounding gap at the top
}

/**
 * Log-softmax of one row, in float64 (beam scores add these up).
 *
 * @param logits (v) one row.
 * @returns (v) log-probabilities.
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - logZ;
  return out;
}
