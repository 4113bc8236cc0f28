/**
 * The float64 SSD oracle checked by hand on closed forms (scalar A per head,
 * heads sharing B and C by group, D, the time-step processing), and its
 * hand-written gradient against central differences in float64.
 */
import assert from "node:assert/strict";
import {
  referenceSsd,
  referenceSsdGrad,
  type RefSsdInputs,
  SSD_GRAD_OF,
} from "./ssd_reference.ts";
import { makeSsdCase, type SsdCaseSpec } from "./_ssd_test_data.ts";
import { relError, rng } from "./_scan_test_data.ts";

const close = (got: number, want: number, tol = 1e-14) =>
  assert.ok(Math.abs(got - want) <= tol, `${got} ≠ ${want}`);

Deno.test("referenceSsd matches a closed form: two heads of one group, p = 2, n = 1", () => {
  // head 0: A = −1, head 1: A = −2; B = [2, 2], C = [1, 4] shared (g = 1)
  // x[t][head][e]; Δ' = 0.5 everywhere
  const x = [[[1, 2], [3, 0]], [[3, 1], [1, 1]]];
  const { y, state } = referenceSsd({
    b: 1,
    l: 2,
    h: 2,
    p: 2,
    g: 1,
    n: 1,
    x: x.flat(2),
    dt: [0.5, 0.5, 0.5, 0.5],
    A: [-1, -2],
    B: [2, 2],
    C: [1, 4],
    D: [0.25, -1],
  });
  for (let k = 0; k < 2; k++) {
    const a = [-1, -2][k];
    const D = [0.25, -1][k];
    for (let e = 0; e < 2; e++) {
      const s1 = 0.5 * x[0][k][e] * 2;
      const s2 = Math.exp(0.5 * a) * s1 + 0.5 * x[1][k][e] * 2;
      close(y[(0 * 2 + k) * 2 + e], 1 * s1 + D * x[0][k][e]);
      close(y[(1 * 2 + k) * 2 + e], 4 * s2 + D * x[1][k][e]);
      close(state[k * 2 + e], s2);
    }
  }
});

Deno.test("referenceSsd: head k uses group ⌊k / (h / g)⌋, and the state is x Bᵀ", () => {
  // h = 4, g = 2: heads 0, 1 read group 0; heads 2, 3 read group 1
  const { y, state } = referenceSsd({
    b: 1,
    l: 1,
    h: 4,
    p: 1,
    g: 2,
    n: 2,
    x: [1, 2, 3, 4],
    dt: [1, 1, 1, 1],
    A: [-1, -1, -1, -1],
    B: [1, 10, 100, 1000],
    C: [1, 0, 0, 1],
    initialState: [0, 0, 0, 0, 0, 0, 0, 0],
  });
  assert.deepEqual(Array.from(y), [1, 2, 3000, 4000]);
  assert.deepEqual(Array.from(state), [1, 10, 2, 20, 300, 3000, 400, 4000]);
});

Deno.test("referenceSsd processes dt: softplus(dt + dtBias), then the limit", () => {
  const run = (dt: number, dtLimit?: readonly [number, number]) =>
    referenceSsd({
      b: 1,
      l: 1,
      h: 1,
      p: 1,
      g: 1,
      n: 1,
      x: [1],
      dt: [dt],
      A: [-1],
      B: [1],
      C: [1],
      dtBias: [0.5],
      dtSoftplus: true,
      dtLimit,
    }).y[0];
  close(run(1), Math.log1p(Math.exp(1.5)));
  close(run(1, [0, 0.3]), 0.3);
  close(run(-20, [0.01, Infinity]), 0.01);
});

/** Central differences of sum(y·dy) + sum(state·dState) for every input. */
function checkGrad(spec: SsdCaseSpec, seed: number): void {
  const q = makeSsdCase(spec, seed);
  const r = rng(seed + 1);
  const dy = Float64Array.from(
    { length: q.b * q.l * q.h * q.p },
    () => r() - 0.5,
  );
  const dState = Float64Array.from(
    { length: q.b * q.h * q.p * q.n },
    () => r() - 0.5,
  );
  const loss = (v: RefSsdInputs) => {
    const { y, state } = referenceSsd(v);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
    for (let i = 0; i < state.length; i++) s += state[i] * dState[i];
    return s;
  };
  const grads = referenceSsdGrad(q, dy, dState);
  const eps = 1e-6;
  for (const [name, gname] of Object.entries(SSD_GRAD_OF)) {
    const given = q[name as keyof typeof SSD_GRAD_OF];
    if (given === undefined) {
      assert.equal(grads[gname], undefined, `${gname} given without ${name}`);
      continue;
    }
    const base = Float64Array.from(given);
    const numeric = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      numeric[i] = (loss({ ...q, [name]: plus }) -
        loss({ ...q, [name]: minus })) / (2 * eps);
    }
    const err = relError(grads[gname]!, numeric);
    assert.ok(
      err <= 1e-7,
      `${gname}: relative error ${err} > 1e-7 at ${JSON.stringify(spec)}`,
    );
  }
}

Deno.test("referenceSsdGrad matches central differences in float64", () => {
  checkGrad({ b: 2, l: 6, h: 4, p: 2, g: 2, n: 3, full: true }, 3);
  checkGrad({ b: 1, l: 5, h: 3, p: 2, g: 1, n: 2 }, 4);
  // a limit that clamps some steps on each side: their dt gradient is 0
  checkGrad(
    { b: 1, l: 8, h: 2, p: 2, g: 2, n: 2, full: true, dtLimit: [0.01, 0.3] },
    5,
  );
});

Deno.test("referenceSsd at l = 0 returns the initial state", () => {
  const q = makeSsdCase({ b: 1, l: 0, h: 2, p: 1, g: 1, n: 2, full: true });
  const { y, state } = referenceSsd(q);
  assert.equal(y.length, 0);
  assert.deepEqual(Array.from(state), Array.from(q.initialState!));
});
