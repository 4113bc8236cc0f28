/** fastExp against Math.exp: ≤ 1e-14 relative over the whole float64 range it claims, and its edges. */
import assert from "node:assert/strict";
import { fastExp } from "./_fast_exp.ts";

Deno.test("fastExp is within 1e-14 relative of Math.exp on [−745, 709.78]", () => {
  let worst = 0;
  let at = 0;
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const xs = [0, -0, 1, -1, 1e-300, -1e-300, 0.5, -88.7, 88.7, -708, 709];
  for (let i = 0; i < 200000; i++) xs.push(-745 + next() * 1454.78);
  for (let i = 0; i < 200000; i++) xs.push((next() - 0.5) * 20); // the scan's range
  for (const x of xs) {
    const want = Math.exp(x);
    if (want < 1e-300) continue; // subnormal results: absolute check below
    const err = Math.abs(fastExp(x) / want - 1);
    if (err > worst) [worst, at] = [err, x];
  }
  assert.ok(worst <= 1e-14, `relative error ${worst} at x = ${at}`);
});

Deno.test("fastExp edges: underflow to 0, overflow to Infinity, NaN stays NaN", () => {
  assert.equal(fastExp(-746), 0);
  assert.equal(fastExp(-Infinity), 0);
  assert.ok(Math.abs(fastExp(-744)) <= 1e-300);
  assert.equal(fastExp(710), Infinity);
  assert.equal(fastExp(Infinity), Infinity);
  assert.ok(Number.isNaN(fastExp(NaN)));
});
