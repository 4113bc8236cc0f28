import assert from "node:assert/strict";
import { decode } from "fast-png";
import { type Chart, chartSvg, renderChart, writeChart } from "./plots.ts";
import { svgToPng } from "./_plot_render.ts";
import { chartSpec } from "./_plot_spec.ts";
import { curveCharts, parseMetrics, writeCurves } from "./_curves.ts";

const WIDTH = 720, HEIGHT = 400;

/** A noisy decreasing loss over 330 steps, validation every 30 steps. */
function lossChart(title = "Loss"): Chart {
  let seed = 3;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const train: [number, number][] = [];
  const val: [number, number][] = [];
  for (let s = 1; s <= 330; s++) {
    train.push([s, 0.7 * Math.exp(-s / 70) + 0.1 + 0.2 * rnd()]);
    if (s % 30 === 0) val.push([s, 0.6 * Math.exp(-s / 70) + 0.12]);
  }
  return {
    title,
    xLabel: "step",
    yLabel: "cross-entropy",
    series: [
      { name: "train", points: train, smooth: true },
      { name: "validation", points: val },
    ],
  };
}

/** The text content of every `<text>` element. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

const decoded = new WeakMap<Uint8Array, ReturnType<typeof decode>>();
function pixels(png: Uint8Array): ReturnType<typeof decode> {
  if (!decoded.has(png)) decoded.set(png, decode(png));
  return decoded.get(png)!;
}

/** Pixels darker than `level` (mean of r, g, b) in a rectangle. */
function dark(
  png: Uint8Array,
  [x0, y0, x1, y1]: number[],
  level = 120,
): number {
  const img = pixels(png);
  const ch = img.channels;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * ch;
      if ((img.data[i] + img.data[i + 1] + img.data[i + 2]) / 3 < level) n++;
    }
  }
  return n;
}

/** Pixels that differ between two same-size PNGs in a rectangle. */
function changed(a: Uint8Array, b: Uint8Array, [x0, y0, x1, y1]: number[]) {
  const A = pixels(a), B = pixels(b);
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * A.width + x) * A.channels;
      if (A.data[i] !== B.data[i] || A.data[i + 2] !== B.data[i + 2]) n++;
    }
  }
  return n;
}

Deno.test("SVG: title, axis titles and legend labels are text", async () => {
  const t = texts(await chartSvg(lossChart()));
  for (
    const want of [
      "Loss",
      "step",
      "cross-entropy",
      "train (raw)",
      "train (EMA, span 18)",
      "validation",
    ]
  ) {
    assert.ok(t.includes(want), `missing <text>${want}</text> in ${t}`);
  }
});

Deno.test("PNG: decodes at 720×400; the title band is dark only with a title", async () => {
  const titled = await renderChart(lossChart("Training loss"));
  const img = decode(titled.png);
  assert.equal(img.width, WIDTH);
  assert.equal(img.height, HEIGHT);
  const band = [WIDTH / 2 - 120, 0, WIDTH / 2 + 120, 26];
  assert.ok(
    dark(titled.png, band) > 100,
    `title ink ${dark(titled.png, band)}`,
  );
  // The same chart with blanks for a title: the frame stays where it was and
  // the band is blank, so the ink above is the title's.
  const blank = await renderChart(lossChart(" ".repeat(13)));
  assert.equal(dark(blank.png, band), 0);
  assert.equal(changed(titled.png, blank.png, [0, 40, WIDTH, HEIGHT]), 0);
});

Deno.test("PNG: the SVG's text is drawn (font loaded): title, axes, legend", async () => {
  const { svg, png } = await renderChart(lossChart());
  const noText = await svgToPng(svg.replace(/<text[^>]*>[^<]*<\/text>/g, ""));
  const regions: Record<string, number[]> = {
    title: [0, 0, WIDTH, 26],
    "y-axis title": [0, 100, 24, 300],
    "x-axis title and legend": [0, HEIGHT - 50, WIDTH, HEIGHT],
  };
  for (const [name, r] of Object.entries(regions)) {
    const n = changed(png, noText, r);
    assert.ok(n > 50, `${name}: ${n} pixels differ without the text`);
  }
});

Deno.test("empty, one-point and all-NaN charts render; notes say why", async () => {
  const base = { title: "T", xLabel: "step", yLabel: "loss" };
  const cases: [Chart["series"], string[]][] = [
    [[], ["no data yet"]],
    [[{ name: "train", points: [], smooth: true }], ["no data yet"]],
    [[{ name: "train", points: [[1, 2]], smooth: true }], []],
    [[{ name: "train", points: [[1, NaN], [2, NaN]] }], [
      "train: 2 non-finite values not drawn (NaN at step 1)",
    ]],
  ];
  for (const [series, notes] of cases) {
    const r = await renderChart({ ...base, series });
    assert.deepEqual(r.notes, notes);
    for (const n of notes) assert.ok(texts(r.svg).includes(n));
    const img = decode(r.png);
    assert.deepEqual([img.width, img.height], [WIDTH, HEIGHT]);
  }
});

Deno.test("a NaN loss breaks the raw line and is reported, the EMA goes on", async () => {
  const chart = lossChart();
  chart.series[0].points[99][1] = NaN; // step 100
  const r = await renderChart(chart);
  assert.deepEqual(r.notes, [
    "train: 1 non-finite value not drawn (NaN at step 100)",
  ]);
  const d = (label: string) =>
    r.svg.match(
      new RegExp(`aria-label="[^"]*label: ${label}"[^>]* d="([^"]+)"`),
    )?.[1] ?? "";
  const moves = (path: string) => path.match(/M/g)?.length ?? 0;
  assert.equal(moves(d("train \\(raw\\)")), 2); // two pieces around the gap
  assert.equal(moves(d("train \\(EMA, span 18\\)")), 1);
  assert.ok(!/NaN/.test(d("train \\(raw\\)")));
});

Deno.test("bad charts are errors naming the field", async () => {
  const base = { title: "T", xLabel: "step", yLabel: "loss" };
  await assert.rejects(
    () =>
      chartSvg({
        ...base,
        series: [{
          name: "a",
          points: [[1, 2], [2, "x"]] as unknown as [number, number][],
        }],
      }),
    /chart\.series\[0\]\.points\[1\]: expected \[finite x, number y\], received \[2,"x"\]/,
  );
  await assert.rejects(
    () =>
      chartSvg({ ...base, series: [{ name: "a", points: [], smooth: -1 }] }),
    /chart\.series\[0\]\.smooth: expected a boolean or a span ≥ 1, received -1/,
  );
  await assert.rejects(
    () => chartSvg({ ...base, title: 3 } as unknown as Chart),
    /chart\.title: expected a string, received number/,
  );
});

Deno.test("curves: metrics.jsonl → loss and metric charts, files written", async () => {
  const lines = [
    { type: "train", step: 1, loss: 0.9 },
    { type: "train", step: 2, loss: null }, // NaN, as JSON writes it
    { type: "train", step: 2, loss: 0.8 }, // resumed run: the last one counts
    { type: "eval", step: 2, val_loss: 0.85, val_accuracy: 0.6, val_f1: 0.5 },
  ].map((r) => JSON.stringify(r));
  const rows = parseMetrics(lines.join("\n") + '\n{"type":"tr', "m.jsonl");
  assert.equal(rows.length, 4); // the cut-off last line is dropped
  const { loss, metric } = curveCharts(rows);
  assert.deepEqual(loss.series.map((s) => [s.name, s.points, !!s.smooth]), [
    ["train", [[1, 0.9], [2, 0.8]], true],
    ["validation", [[2, 0.85]], false],
  ]);
  assert.deepEqual(metric.series.map((s) => s.name), [
    "validation accuracy",
    "validation F1",
  ]);
  assert.throws(
    () => parseMetrics('{"a":1}\nnot json\n{"b":2}\n', "m.jsonl"),
    /m\.jsonl:2: expected a JSON object, received "not json"/,
  );

  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, lines.join("\n") + "\n");
    assert.deepEqual(await writeCurves(dir, `${dir}/metrics.jsonl`), []);
    for (const f of ["loss.svg", "loss.png", "metric.svg", "metric.png"]) {
      assert.ok((await Deno.stat(`${dir}/${f}`)).size > 1000, f);
    }
    assert.ok(
      texts(await Deno.readTextFile(`${dir}/metric.svg`)).includes(
        "validation accuracy",
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeChart writes the SVG and the PNG drawn from it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeChart(dir, "c", lossChart());
    const svg = await Deno.readTextFile(`${dir}/c.svg`);
    const png = await Deno.readFile(`${dir}/c.png`);
    assert.deepEqual(png, await svgToPng(svg));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two series of one name get distinct legend labels", async () => {
  const t = texts(
    await chartSvg({
      title: "T",
      xLabel: "step",
      yLabel: "loss",
      series: [{ name: "a", points: [[1, 1]] }, {
        name: "a",
        points: [[1, 2]],
      }],
    }),
  );
  assert.ok(t.includes("a") && t.includes("a [2]"), `${t}`);
});

Deno.test("a 100 000-step series is thinned to a bounded spec", () => {
  const points = Array.from(
    { length: 100_000 },
    (_, i) => [i + 1, 1 / Math.sqrt(i + 1)] as [number, number],
  );
  const { spec } = chartSpec({
    title: "T",
    xLabel: "step",
    yLabel: "loss",
    series: [{ name: "train", points, smooth: true }],
  });
  const rows = (spec as { data: { values: unknown[] } }).data.values;
  assert.ok(rows.length <= 2 * 2000, `${rows.length} rows`);
  assert.match(JSON.stringify(spec), /train \(EMA, span 316\)/);
});
