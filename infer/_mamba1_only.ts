/**
 * Private: what the prebuilt WebGPU paths (`gpu_forward.ts`,
 * `gpu_decoder.ts`) can run. They are written for the Mamba-1 mixer only;
 * a Mamba-2 layer or a Falcon-Mamba layer (RMS norms on B, C and Δ) makes
 * them decline, so generation and classification fall back to the model's
 * own tfjs program, which runs every mixer kind.
 *
 * @module
 */
import type { ResolvedLayer, ResolvedMamba } from "../dsl/resolve.ts";

/**
 * Why a layer cannot run on the prebuilt WebGPU paths, or null.
 * @param layer a resolved layer.
 * @returns e.g. `layer 2: mixer "mamba2" is not supported by the prebuilt
 *   WebGPU path (Mamba-1 only)`, or null for a plain Mamba-1 layer.
 */
export function notMamba1(layer: ResolvedLayer): string | null {
  if (layer.mixer.kind !== "mamba") {
    return `layer ${layer.index}: mixer "${layer.mixer.kind}" is not supported by the prebuilt WebGPU path (Mamba-1 only)`;
  }
  if (layer.mixer.bcdtRmsEps !== undefined) {
    return `layer ${layer.index}: Falcon-Mamba's B/C/Δ RMS norms (bcdtRmsEps) are not supported by the prebuilt WebGPU path`;
  }
  return null;
}

/**
 * A layer's Mamba-1 mixer.
 * @param layer a resolved layer that {@linkcode notMamba1} accepted.
 * @returns its mixer.
 * @throws Error when the layer holds another mixer kind.
 */
export function mamba1(layer: ResolvedLayer): ResolvedMamba {
  const why = notMamba1(layer);
  if (why) throw new Error(why);
  return layer.mixer as ResolvedMamba;
}
