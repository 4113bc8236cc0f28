/**
 * WGSL of one recurrent step (decode): one thread per (b, d) holding its N
 * states, h ← exp(Δ'A) h + Δ' u B, y = C·h + D u, y ← y·SiLU(z).
 *
 * Reference: state-spaces/mamba `selective_state_update` (ops/triton).
 *
 * @module
 */
import { type Binding, declare, MATH } from "./_wgsl_common.ts";

/** Everything baked into a step shader. */
export interface StepConfig {
  N: number;
  hasD: boolean;
  hasZ: boolean;
  hasBias: boolean;
  softplus: boolean;
}

/** @returns the pipeline cache key of a step config. */
export function stepKey(c: StepConfig): string {
  return `mamba_step_N${c.N}_${+c.hasD}${+c.hasZ}${+c.hasBias}${+c.softplus}`;
}

/** Uniform fields of the step shader. */
export const STEP_UNIFORMS = ["b", "dIn"];

/**
 * Bindings: outputs y (b, dIn), hnew (b, dIn, N); inputs u, dl (b, dIn), P
 * (dIn, N+2), Bm, Cm (b, N), [z (b, dIn)], h (b, dIn, N).
 *
 * @param c the config.
 * @returns binding list.
 */
export function stepBindings(c: StepConfig): Binding[] {
  const names = ["u", "dl", "P", "Bm", "Cm", ...(c.hasZ ? ["z"] : []), "h"];
  return [
    { name: "y", write: true },
    { name: "hnew", write: true },
    ...names.map((name) => ({ name, write: false })),
  ];
}

/**
 * @param c the config.
 * @returns WGSL; dispatch (ceil(b·dIn / 64), 1, 1).
 */
export function stepShader(c: StepConfig): string {
  const { N } = c;
  const P = N + 2;
  return /* wgsl */ `
${declare(stepBindings(c), STEP_UNIFORMS)}
${MATH}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= U.b * U.dIn) { return; }
  let d = i % U.dIn;
  let bi = i / U.dIn;
  let raw = dl[i]${c.hasBias ? ` + P[d * ${P}u + ${N + 1}u]` : ""};
  let dv = ${c.softplus ? "softplus(raw)" : "raw"};
  let uv = u[i];
  let du = dv * uv;
  var s = ${c.hasD ? `P[d * ${P}u + ${N}u] * uv` : "0.0"};
  for (var n = 0u; n < ${N}u; n = n + 1u) {
    let hv = exp(dv * P[d * ${P}u + n]) * h[i * ${N}u + n] +
      du * Bm[bi * ${N}u + n];
    hnew[i * ${N}u + n] = hv;
    s = s + Cm[bi * ${N}u + n] * hv;
  }
  ${c.hasZ ? "s = s * silu(z[i]);" : ""}
  y[i] = s;
}
`;
}
