/**
 * Beam search over the recurrent step: the beams of one prompt are the rows
 * of one batch, and reordering beams is a gather of the state rows.
 *
 * A hypothesis's score is its summed log-probability divided by
 * (generated length) ^ lengthPenalty, the length counting every generated
 * token including a final stop token id. At each step the 2·numBeams best
 * continuations are ranked; one that ends in a stop id and ranks within the
 * first numBeams becomes a finished hypothesis, the others continue.
 * `earlyStopping: true` ends as soon as numBeams hypotheses are finished;
 * otherwise the search also ends when the best running beam can no longer
 * beat the worst kept hypothesis (Hugging Face's heuristic). At the length
 * limit the running beams are finished as they stand.
 *
 * Reference: Hugging Face `generation/utils.py` (`_beam_search`,
 * `BeamHypotheses.add`, `BeamHypotheses.is_done`).
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { MambaModel, ModelState } from "../models/types.ts";
import type { ResolvedGenerateOptions } from "./options.ts";
import { applyRepetitionPenalty, logSoftmax } from "./sampling.ts";
import { disposeState, gatherState } from "./_state.ts";

/** One finished hypothesis. */
export interface BeamHypothesis {
  /** Generated tokens (a final stop id included). */
  outputIds: number[];
  /** Summed log-probability of the generated tokens. */
  logProb: number;
  /** logProb / length ^ lengthPenalty. */
  score: number;
}

/** Result of {@linkcode beamSearch}. */
export interface BeamSearchResult {
  /** The prompt. */
  promptIds: number[];
  /** The best hypothesis's tokens. */
  outputIds: number[];
  /** "stop" when the best hypothesis ended in a stop id, else "length". */
  finishReason: "stop" | "length";
  /** The best numBeams hypotheses, best first. */
  hypotheses: BeamHypothesis[];
}

interface Beam {
  tokens: number[];
  logProb: number;
}

interface Candidate {
  parent: number;
  token: number;
  logProb: number;
}

/**
 * Beam search from one prompt.
 *
 * @param model an LM-head model.
 * @param promptIds the prompt (≥ 1 id).
 * @param options resolved options (numBeams, lengthPenalty, earlyStopping,
 *   maxNewTokens, stopTokenIds, repetitionPenalty are used).
 * @returns the best hypothesis and the kept ones.
 * @example
 * ```ts
 * import { beamSearch } from "./beam.ts";
 * import { resolveGenerateOptions } from "./options.ts";
 * declare const model: import("../models/types.ts").MambaModel;
 * const r = await beamSearch(model, [1, 2], resolveGenerateOptions({ numBeams: 4 }));
 * ```
 */
export async function beamSearch(
  model: MambaModel,
  promptIds: number[],
  options: ResolvedGenerateOptions,
): Promise<BeamSearchResult> {
  const k = options.numBeams;
  const vocab = model.resolved?.vocab;
  const score = (logProb: number, length: number) =>
    logProb / length ** options.lengthPenalty;
  const finished: BeamHypothesis[] = [];
  const keepFinished = (h: BeamHypothesis) => {
    finished.push(h);
    finished.sort((a, b) => b.score - a.score);
    if (finished.length > k) finished.pop();
  };

  const prefill = model.prefill([promptIds], { lastOnly: true }); // logits (1, 1, v)
  const l = prefill.logits.shape[1];
  let rows: tf.Tensor2D = tf.tidy(() =>
    prefill.logits.slice([0, l - 1, 0], [1, 1, -1]).squeeze([1])
  ); // (1, v)
  prefill.logits.dispose();
  let state: ModelState = prefill.state;
  let beams: Beam[] = [{ tokens: [], logProb: 0 }];
  let done = false;

  try {
    for (let t = 0; t < options.maxNewTokens; t++) {
      const v = rows.shape[1];
      const data = await rows.data() as Float32Array;
      rows.dispose();
      const candidates: Candidate[] = [];
      beams.forEach((beam, b) => {
        const row = Float32Array.from(
          data.subarray(b * v, b * v + (vocab ?? v)),
        );
        applyRepetitionPenalty(
          row,
          [...promptIds, ...beam.tokens],
          options.sampling.repetitionPenalty,
        );
        for (const c of topCandidates(logSoftmax(row), 2 * k)) {
          candidates.push({
            parent: b,
            token: c.index,
            logProb: beam.logProb + c.value,
          });
        }
      });
      candidates.sort((a, b) => b.logProb - a.logProb);

      const next: Candidate[] = [];
      for (let rank = 0; rank < candidates.length && next.length < k; rank++) {
        const c = candidates[rank];
        if (options.stopTokenIds.includes(c.token)) {
          if (rank >= k) continue;
          const outputIds = [...beams[c.parent].tokens, c.token];
          keepFinished({
            outputIds,
            logProb: c.logProb,
            score: score(c.logProb, outputIds.length),
          });
        } else next.push(c);
      }
      beams = next.map((c) => ({
        tokens: [...beams[c.parent].tokens, c.token],
        logProb: c.logProb,
      }));

      const length = t + 1;
      const last = t === options.maxNewTokens - 1 || beams.length === 0;
      const full = finished.length >= k;
      const hopeless = full && beams.length > 0 &&
        score(beams[0].logProb, length) <= finished[finished.length - 1].score;
      done = full && (options.earlyStopping || hopeless);
      if (last || done) break;

      const reordered = gatherState(state, next.map((c) => c.parent));
      disposeState(state);
      const out = model.step(next.map((c) => c.token), reordered); // (k, v)
      disposeState(reordered);
      state = out.state;
      rows = out.logits;
    }
  } finally {
    disposeState(state);
    if (!rows.isDisposed) rows.dispose();
  }

  if (!done) {
    for (const beam of beams) {
      keepFinished({
        outputIds: beam.tokens,
        logProb: beam.logProb,
        score: score(beam.logProb, beam.tokens.length),
      });
    }
  }
  const best = finished[0];
  const lastId = best.outputIds[best.outputIds.length - 1];
  return {
    promptIds,
    outputIds: best.outputIds,
    finishReason: options.stopTokenIds.includes(lastId) ? "stop" : "length",
    hypotheses: finished,
  };
}

/** The n largest entries of a row, largest first (ties: lower index first). */
function topCandidates(
  values: Float64Array,
  n: number,
): { index: number; value: number }[] {
  const top: { index: number; value: number }[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (top.length === n && value <= top[n - 1].value) continue;
    let at = top.length;
    while (at > 0 && top[at - 1].value < value) at--;
    top.splice(at, 0, { index: i, value });
    if (top.length > n) top.pop();
  }
  return top;
}
