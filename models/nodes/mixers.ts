/**
 * The mixer registry: each mixer kind (what a `residual` block wraps) by its
 * DSL `kind`. Adding a mixer kind = its module + one line here (see
 * `registry.ts` for the whole recipe).
 *
 * @module
 */
import type { ResolvedMixer } from "../../dsl/resolve.ts";
import type { MixerKind } from "./node_kind.ts";
import { mambaKind } from "./mamba.ts";
import { mamba2Kind } from "./mamba2.ts";

/** Every mixer kind, by DSL `kind`. */
export const MIXER_KINDS: {
  readonly [K in ResolvedMixer["kind"]]: MixerKind<
    Extract<ResolvedMixer, { kind: K }>
  >;
} = {
  mamba: mambaKind,
  mamba2: mamba2Kind,
};

/**
 * The module of a mixer.
 * @param mixer a resolved mixer.
 * @returns its kind's module.
 */
export function mixerKindOf<M extends ResolvedMixer>(mixer: M): MixerKind<M> {
  const kind = MIXER_KINDS[mixer.kind as ResolvedMixer["kind"]];
  if (!kind) throw new Error(`no mixer kind "${mixer.kind}" is registered`);
  return kind as unknown as MixerKind<M>;
}
