/**
 * The float64 oracle checked by hand on closed forms, and its hand-written
 * gradient against central differences in float64.
 */
import assert from "node:assert/strict";
import {
  referenceScan,
  referenceScanGrad,
  type RefScanInputs,
} from "./scan_reference.ts";
import { makeCase, relError, rng } from "./_scan_test_data.ts";

Deno.test("referenceScan matches a closed form on a 1×1 state", () => {
  // h1 = 0.5·1·2 = 1, h2 = e^{-0.5} + 0.5·3·2, y = C h + D u, gated by SiLU(z)
  const { y, state } = referenceScan({
    b: 1,
    l: 2,
    dIn: 1,
    n: 1,
    u: [1, 3],
    delta: [0.5, 0.5],
    A: [-1],
    B: [2, 2],
    C: [1, 4],
    D: [0.25],
    initialState: [0],
  });
  const h2 = Math.exp(-0.5) + 3;
  assert.ok(Math.abs(y[0] - (1 + 0.25)) < 1e-15);
  assert.ok(Math.abs(y[1] - (4 * h2 + 0.75)) < 1e-14);
  assert.ok(Math.abs(state[0] - h2) < 1e-15);
  const gated = referenceScan({
    b: 1,
    l: 1,
    dIn: 1,
    n: 1,
    u: [1],
    delta: [0],
    A: [-1],
    B: [1],
    C: [1],
    D: [2],
    z: [1.5],
    deltaBias: [Math.log(Math.E - 1)], // softplus → 1
    deltaSoftplus: true,
  });
  const silu = 1.5 / (1 + Math.exp(-1.5));
  assert.ok(Math.abs(gated.y[0] - (1 + 2) * silu) < 1e-14);
});

Deno.test("referenceScanGrad matches central differences in float64", () => {
  const p = makeCase({ b: 2, l: 5, dIn: 2, n: 3, full: true }, 3);
  const r = rng(5);
  const dy = Float64Array.from({ length: p.b * p.l * p.dIn }, () => r() - 0.5);
  const dState = Float64Array.from(
    { length: p.b * p.dIn * p.n },
    () => r() - 0.5,
  );
  const loss = (q: RefScanInputs) => {
    const { y, state } = referenceScan(q);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
    for (let i = 0; i < state.length; i++) s += state[i] * dState[i];
    return s;
  };
  const grads = referenceScanGrad(p, dy, dState);
  const pairs = [
    ["u", "du"],
    ["delta", "ddelta"],
    ["A", "dA"],
    ["B", "dB"],
    ["C", "dC"],
    ["D", "dD"],
    ["z", "dz"],
    ["deltaBias", "ddeltaBias"],
    ["initialState", "dInitialState"],
  ] as const;
  const eps = 1e-6;
  for (const [name, gname] of pairs) {
    const base = Float64Array.from(p[name]!);
    const numeric = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      numeric[i] =
        (loss({ ...p, [name]: plus }) - loss({ ...p, [name]: minus })) /
        (2 * eps);
    }
    const err = relError(grads[gname]!, numeric);
    assert.ok(err <= 1e-7, `${gname}: relative error ${err} > 1e-7`);
  }
});

Deno.test("referenceScanGrad returns optional gradients only for given inputs", () => {
  const p = makeCase({ b: 1, l: 3, dIn: 2, n: 2 });
  const g = referenceScanGrad(p, new Float64Array(6));
  assert.equal(g.dD, undefined);
  assert.equal(g.dz, undefined);
  assert.equal(g.ddeltaBias, undefined);
  assert.equal(g.dInitialState, undefined);
  assert.equal(g.dA.length, 4);
});
