import assert from "node:assert/strict";
import { autoSpan, decimate, ema } from "./_plot_smooth.ts";

/** The EMA's definition, summed directly in float64 over finite inputs. */
function emaOracle(xs: number[], span: number): number[] {
  const a = 2 / (span + 1);
  return xs.map((x, t) => {
    if (!Number.isFinite(x)) return NaN;
    let num = 0, den = 0, age = 0;
    for (let i = t; i >= 0; i--) {
      if (!Number.isFinite(xs[i])) continue;
      num += (1 - a) ** age * xs[i];
      den += (1 - a) ** age;
      age++;
    }
    return num / den;
  });
}

Deno.test("ema: hand-checked values (span 3, α = 0.5)", () => {
  // y0 = 1; y1 = (0.5·1 + 2) / 1.5 = 5/3; y2 = (0.25·1 + 0.5·2 + 4) / 1.75 = 3.
  const got = ema([1, 2, 4], 3);
  const want = [1, 5 / 3, 3];
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(got[i] - want[i]) < 1e-15, `${i}: ${got[i]}`);
  }
});

Deno.test("ema: a non-finite input is NaN out and skipped after", () => {
  const got = [...ema([1, NaN, 2, Infinity, 4], 3)];
  assert.ok(Number.isNaN(got[1]) && Number.isNaN(got[3]));
  const want = [1, NaN, 5 / 3, NaN, 3];
  for (const i of [0, 2, 4]) {
    assert.ok(Math.abs(got[i] - want[i]) < 1e-15, `${i}: ${got[i]}`);
  }
});

Deno.test("ema: matches the direct float64 sum within 1e-12", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const xs = Array.from(
    { length: 300 },
    (_, i) => i % 37 === 5 ? NaN : 3 * Math.exp(-i / 50) + rnd(),
  );
  for (const span of [1, 2, 18, 100]) {
    const got = ema(xs, span), want = emaOracle(xs, span);
    for (let i = 0; i < xs.length; i++) {
      if (Number.isNaN(want[i])) assert.ok(Number.isNaN(got[i]));
      else assert.ok(Math.abs(got[i] - want[i]) < 1e-12, `span ${span} @${i}`);
    }
  }
  assert.deepEqual([...ema(xs.slice(0, 4), 1)], xs.slice(0, 4));
});

Deno.test("ema: empty input, and a bad span is an error naming it", () => {
  assert.equal(ema([], 5).length, 0);
  assert.throws(
    () => ema([1], 0),
    /ema span: expected a number ≥ 1, received 0/,
  );
  assert.throws(() => ema([1], NaN), /received NaN/);
});

Deno.test("autoSpan: round(√n), at least 2", () => {
  assert.deepEqual([0, 1, 9, 330, 10_000].map(autoSpan), [2, 2, 3, 18, 100]);
});

Deno.test("decimate: bounded, in order, keeps ends, spikes and NaN", () => {
  const pts = Array.from(
    { length: 10_000 },
    (_, i) => [i, Math.sin(i / 100)] as [number, number],
  );
  pts[4321][1] = 50;
  pts[7000][1] = NaN;
  const out = decimate(pts, 1000);
  assert.ok(out.length <= 1001, `${out.length}`); // + the NaN point
  for (let i = 1; i < out.length; i++) assert.ok(out[i][0] > out[i - 1][0]);
  assert.deepEqual(out[0], pts[0]);
  assert.deepEqual(out.at(-1), pts.at(-1));
  assert.ok(out.some(([x, y]) => x === 4321 && y === 50));
  assert.ok(out.some(([x, y]) => x === 7000 && Number.isNaN(y)));
  const short = pts.slice(0, 10);
  assert.equal(decimate(short, 1000), short);
});
