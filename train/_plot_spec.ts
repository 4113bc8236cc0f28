/**
 * A chart (title, axis labels, named series) as a Vega-Lite spec: each series
 * is one colour; a smoothed series is drawn twice, its raw points as a thin
 * line in the light shade of that colour and its EMA as a thick line on top,
 * with the legend naming both ("train (raw)", "train (EMA, span 18)").
 * Non-finite values break the raw line and are counted in the subtitle.
 *
 * Reference: Vega-Lite layered line charts; matplotlib's tab10/tab20 colours.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import type { Chart } from "./plots.ts";
import { autoSpan, decimate, ema } from "./_plot_smooth.ts";

/** tab10 colours and their tab20 light partners, for raw series. */
const DARK = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
];
const LIGHT = [
  "#aec7e8",
  "#ffbb78",
  "#98df8a",
  "#ff9896",
  "#c5b0d5",
  "#c49c94",
];

/** Series with fewer finite points than this are drawn unsmoothed. */
const MIN_SMOOTH_POINTS = 8;
/** Longer series are thinned by {@link decimate} to this many points. */
const MAX_POINTS = 2000;

/** Size of the whole picture (title, axes and legend included), in px. */
export const SIZE = { width: 720, height: 400 } as const;

const LAYERS = ["raw", "smooth", "plain"] as const;
type Layer = typeof LAYERS[number];
interface Row {
  x: number;
  y: number | null;
  label: string;
  layer: Layer;
}

function check(chart: Chart): void {
  if (typeof chart !== "object" || chart === null) {
    throw new Error(`chart: expected an object, received ${chart}`);
  }
  for (const key of ["title", "xLabel", "yLabel"] as const) {
    if (typeof chart[key] !== "string") {
      throw new Error(
        `chart.${key}: expected a string, received ${typeof chart[key]}`,
      );
    }
  }
  if (!Array.isArray(chart.series)) {
    throw new Error(
      `chart.series: expected an array, received ${typeof chart.series}`,
    );
  }
  chart.series.forEach((s, i) => {
    if (typeof s?.name !== "string" || !Array.isArray(s.points)) {
      throw new Error(
        `chart.series[${i}]: expected { name: string, points: [x, y][] }`,
      );
    }
    s.points.forEach((p, j) => {
      if (
        !Array.isArray(p) || typeof p[0] !== "number" ||
        !Number.isFinite(p[0]) || typeof p[1] !== "number"
      ) {
        throw new Error(
          `chart.series[${i}].points[${j}]: expected [finite x, number y], received ${
            JSON.stringify(p)
          }`,
        );
      }
    });
    const sm = s.smooth;
    if (
      sm !== undefined && typeof sm !== "boolean" &&
      !(typeof sm === "number" && Number.isFinite(sm) && sm >= 1)
    ) {
      throw new Error(
        `chart.series[${i}].smooth: expected a boolean or a span ≥ 1, received ${sm}`,
      );
    }
  });
}

/**
 * Vega's scale for the drawn values, widened where they span nothing: no
 * values give [0, 1], one value v gives v ± max(pad·|v|, pad) (Vega would
 * otherwise print a lone tick with six decimals). `zero`: include 0 (the x
 * axis, so that the loss and metric charts of a run share their steps).
 */
function scaleFor(values: number[], pad: number, zero: boolean) {
  if (values.length === 0) return { zero: false, domain: [0, 1] };
  const lo = Math.min(...values), hi = Math.max(...values);
  if (lo < hi) return { zero };
  const d = Math.max(pad * Math.abs(lo), pad);
  return { zero: false, domain: [lo - d, hi + d] };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * Builds the Vega-Lite spec of a chart.
 * @param chart the chart (validated here; errors name the field).
 * @returns the spec, and the notes that went into its subtitle.
 */
export function chartSpec(
  chart: Chart,
): { spec: TopLevelSpec; notes: string[] } {
  check(chart);
  const rows: Row[] = [];
  const domain: string[] = [], range: string[] = [];
  const notes: string[] = [];
  chart.series.forEach((s, i) => {
    const points = [...s.points].sort((a, b) => a[0] - b[0]);
    const bad = points.filter(([, y]) => !Number.isFinite(y));
    if (bad.length > 0) {
      notes.push(
        `${s.name}: ${plural(bad.length, "non-finite value")} not drawn (${
          bad[0][1]
        } at ${chart.xLabel || "x"} ${bad[0][0]})`,
      );
    }
    const finite = points.length - bad.length;
    const span = s.smooth === true
      ? autoSpan(finite)
      : typeof s.smooth === "number"
      ? s.smooth
      : 0;
    const dark = DARK[i % DARK.length], light = LIGHT[i % LIGHT.length];
    // Legend labels are the colour scale's domain: keep them distinct.
    const unique = (label: string) =>
      domain.includes(label) ? `${label} [${i + 1}]` : label;
    const push = (pts: [number, number][], label: string, layer: Layer) => {
      for (const [x, y] of decimate(pts, MAX_POINTS)) {
        rows.push({ x, y: Number.isFinite(y) ? y : null, label, layer });
      }
    };
    if (span > 1 && finite >= MIN_SMOOTH_POINTS) {
      const smooth = ema(points.map((p) => p[1]), span);
      const rawLabel = unique(`${s.name} (raw)`);
      const emaLabel = unique(
        `${s.name} (EMA, span ${Number(span.toPrecision(3))})`,
      );
      domain.push(rawLabel, emaLabel);
      range.push(light, dark);
      push(points, rawLabel, "raw");
      push(
        points.map(([x], k) => [x, smooth[k]] as [number, number])
          .filter(([, y]) => Number.isFinite(y)),
        emaLabel,
        "smooth",
      );
    } else {
      const label = unique(s.name);
      domain.push(label);
      range.push(dark);
      push(points, label, "plain");
    }
  });
  if (rows.length === 0) notes.unshift("no data yet");
  const drawn = rows.filter((r) => r.y !== null);
  const encoding = {
    x: {
      field: "x",
      type: "quantitative",
      title: chart.xLabel || null,
      scale: scaleFor(drawn.map((r) => r.x), 1, true),
    },
    y: {
      field: "y",
      type: "quantitative",
      title: chart.yLabel || null,
      scale: scaleFor(drawn.map((r) => r.y as number), 0.1, false),
    },
    color: {
      field: "label",
      type: "nominal",
      title: null,
      scale: { domain, range },
      legend: domain.length
        ? { orient: "bottom", direction: "horizontal", symbolType: "stroke" }
        : null,
    },
  };
  const layer = (name: Layer, mark: Record<string, unknown>) => ({
    transform: [{ filter: `datum.layer === '${name}'` }],
    mark: {
      type: "line",
      invalid: "break-paths-filter-domains",
      point: name === "plain" ? { size: 25, filled: true } : false,
      ...mark,
    },
  });
  // Only layers with rows (an empty one makes Vega warn of infinite
  // extents), and at least one, so that the spec is valid.
  const layers = LAYERS.filter((name) => rows.some((r) => r.layer === name));
  if (layers.length === 0) layers.push("plain");
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: SIZE.width,
    height: SIZE.height,
    autosize: { type: "fit", contains: "padding" },
    padding: 10,
    background: "white",
    title: notes.length
      ? { text: chart.title, subtitle: notes }
      : { text: chart.title },
    data: { values: rows },
    encoding,
    layer: layers.map((name) =>
      layer(name, name === "raw" ? { strokeWidth: 1 } : { strokeWidth: 2 })
    ),
    config: {
      title: { fontSize: 16, subtitleFontSize: 12, subtitleColor: "#a33" },
      axis: { titleFontSize: 13, labelFontSize: 11, gridColor: "#e8e8e8" },
      legend: { labelFontSize: 12, labelLimit: 260, symbolStrokeWidth: 3 },
    },
  } as TopLevelSpec;
  return { spec, notes };
}
