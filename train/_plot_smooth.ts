/**
 * Smoothing and thinning of curve points before they are charted: an
 * exponential moving average for noisy per-step series, and a min/max
 * decimation that keeps a long series' envelope in a bounded number of
 * points (so a chart of 100 000 steps renders as fast as one of 2 000).
 *
 * Reference: pandas `Series.ewm(span=s, adjust=True, ignore_na=True).mean()`
 * (the bias-corrected EMA; TensorBoard's smoothing is the same estimator with
 * weight `1 - α`).
 *
 * @module
 */

/**
 * The span an EMA uses when a series asks for automatic smoothing:
 * `round(√n)`, at least 2 (330 steps → 18, 10 000 steps → 100).
 * @param n number of finite points in the series.
 * @returns the span in points.
 */
export function autoSpan(n: number): number {
  return Math.max(2, Math.round(Math.sqrt(Math.max(0, n))));
}

/**
 * Bias-corrected exponential moving average with `α = 2 / (span + 1)`:
 * `y[t] = Σ_{i≤t} (1-α)^(t-i) x[i] / Σ_{i≤t} (1-α)^(t-i)`, the sums over the
 * finite inputs only. A non-finite input (NaN, ±Infinity) is skipped: its
 * output is NaN and it does not enter later averages.
 * @param values the raw values, (n).
 * @param span the span in points (≥ 1; 1 returns the input).
 * @returns the smoothed values, (n), float64.
 * @example
 * ```ts
 * ema([1, 2, 4], 3); // Float64Array [1, 1.666…, 3]
 * ```
 */
export function ema(values: ArrayLike<number>, span: number): Float64Array {
  if (!(span >= 1) || !Number.isFinite(span)) {
    throw new Error(`ema span: expected a number ≥ 1, received ${span}`);
  }
  const decay = 1 - 2 / (span + 1);
  const out = new Float64Array(values.length);
  let num = 0, den = 0;
  for (let t = 0; t < values.length; t++) {
    const x = values[t];
    if (!Number.isFinite(x)) {
      out[t] = NaN;
      continue;
    }
    num = decay * num + x;
    den = decay * den + 1;
    out[t] = num / den;
  }
  return out;
}

/**
 * Thins a series to at most `maxPoints` finite points by keeping, in each of
 * `⌊maxPoints / 4⌋` equal runs of consecutive points, the first and last
 * point and the points with the smallest and largest y (in their original
 * order), so spikes stay visible. Non-finite points are always kept (they
 * break the line). Shorter series are returned as they are.
 * @param points (x, y) pairs in x order.
 * @param maxPoints the budget (≥ 4).
 * @returns the kept points, in order.
 */
export function decimate(
  points: [number, number][],
  maxPoints: number,
): [number, number][] {
  if (points.length <= maxPoints) return points;
  const buckets = Math.max(1, Math.floor(maxPoints / 4));
  const size = points.length / buckets;
  const out: [number, number][] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size), hi = Math.floor((b + 1) * size);
    const keep = new Set<number>([lo, hi - 1]);
    let iMin = -1, iMax = -1;
    for (let i = lo; i < hi; i++) {
      const y = points[i][1];
      if (!Number.isFinite(y)) {
        keep.add(i);
        continue;
      }
      if (iMin < 0 || y < points[iMin][1]) iMin = i;
      if (iMax < 0 || y > points[iMax][1]) iMax = i;
    }
    if (iMin >= 0) keep.add(iMin);
    if (iMax >= 0) keep.add(iMax);
    for (const i of [...keep].sort((a, b) => a - b)) out.push(points[i]);
  }
  return out;
}
