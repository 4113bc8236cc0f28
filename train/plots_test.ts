import assert from "node:assert/strict";
import { decode } from "fast-png";
import { chartPng, chartSvg } from "./plots.ts";

const chart = {
  title: "loss",
  xLabel: "step",
  yLabel: "loss",
  series: [{
    name: "train",
    points: [[1, 2], [2, 1.5], [3, NaN], [4, 1]] as [number, number][],
  }, { name: "val", points: [[2, 1.8]] as [number, number][] }],
};

Deno.test("SVG: a polyline per series, labels, legend", () => {
  const svg = chartSvg(chart);
  assert.match(svg, /^<svg/);
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.match(svg, />train</);
  assert.match(svg, />step</);
});

Deno.test("PNG: decodes, 640×400, series colour present", () => {
  const png = decode(chartPng(chart));
  assert.equal(png.width, 640);
  assert.equal(png.height, 400);
  const d = png.data;
  let blue = 0;
  for (let i = 0; i < d.length; i += 3) {
    if (d[i] === 0x1f && d[i + 1] === 0x77 && d[i + 2] === 0xb4) blue++;
  }
  assert.ok(blue > 100, `blue pixels ${blue}`);
});
