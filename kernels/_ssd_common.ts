/**
 * Helpers shared by the tfjs SSD forms (`ssd_chunked.ts`, `ssd_step.ts`): the
 * time-step processing and the shape checks at their boundary.
 *
 * @module
 */
import { tf } from "./backend.ts";
import { softplus } from "./_softplus.ts";
import type { SsdDtOptions } from "./ssd_types.ts";

/**
 * Δ' = clamp(softplus(dt + dtBias), dtLimit), each part only when asked for.
 *
 * @param dt (…, h) raw time step.
 * @param options dtBias (h), dtSoftplus, dtLimit.
 * @returns Δ', same shape as dt.
 */
export function processDt<T extends tf.Tensor>(
  dt: T,
  options: SsdDtOptions,
): T {
  let v: tf.Tensor = dt;
  if (options.dtBias) v = tf.add(v, options.dtBias);
  if (options.dtSoftplus) v = softplus(v);
  if (options.dtLimit) {
    // bounds that cannot bite are left out (HF writes [0, Infinity]); the
    // gradient passes where lo ≤ Δ' ≤ hi, as in torch.clamp
    const [lo, hi] = options.dtLimit;
    if (lo > 0 || (!options.dtSoftplus && lo > -Infinity)) {
      v = tf.maximum(v, lo);
    }
    if (hi < Infinity) v = tf.minimum(v, hi);
  }
  return v as T;
}

/** "(2, 3)" */
function fmt(shape: readonly number[]): string {
  return `(${shape.join(", ")})`;
}

/**
 * Throws naming the field when a tensor's shape differs from the expected one.
 *
 * @param where the caller and field, e.g. "ssdChunked: B".
 * @param got the tensor's shape.
 * @param want the expected shape.
 * @param letters the shape's letters for the message, e.g. "(b, l, g, n)".
 */
export function expectShape(
  where: string,
  got: readonly number[],
  want: readonly number[],
  letters: string,
): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(
      `${where}: expected shape ${letters} = ${fmt(want)}, received ${
        fmt(got)
      }`,
    );
  }
}

/**
 * Checks the groups and the time-step limit.
 *
 * @param where the caller's name.
 * @param h heads.
 * @param g groups.
 * @param options the time-step options.
 */
export function checkHeadsAndDt(
  where: string,
  h: number,
  g: number,
  options: SsdDtOptions,
): void {
  if (!(g > 0) || h % g !== 0) {
    throw new Error(
      `${where}: B: expected a number of groups dividing the ${h} heads, received ${g}`,
    );
  }
  const lim = options.dtLimit;
  if (
    lim !== undefined &&
    (lim.length !== 2 || Number.isNaN(lim[0]) || Number.isNaN(lim[1]) ||
      lim[0] > lim[1])
  ) {
    throw new Error(
      `${where}: dtLimit: expected [lo, hi] with lo ≤ hi, received ${
        JSON.stringify(lim)
      }`,
    );
  }
}
