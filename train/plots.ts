/**
 * Line charts of training curves, as SVG and PNG with the same text: a title,
 * axis titles and a legend naming every line. A noisy series (per-step loss)
 * can be drawn raw and faint with its exponential moving average on top; a
 * non-finite value breaks its line and is reported in the subtitle.
 *
 * The chart is a Vega-Lite spec (`_plot_spec.ts`) rendered to SVG by Vega's
 * headless View, and the PNG is that SVG rasterised by resvg (wasm) with
 * DejaVu Sans from npm (`_plot_render.ts`): nothing is drawn by hand, nothing
 * is fetched.
 *
 * Reference: Vega-Lite (Satyanarayan et al., 2017); TensorBoard's scalar
 * dashboard (raw curve faint, smoothed curve on top).
 *
 * @module
 */
import { chartSpec } from "./_plot_spec.ts";
import { specToSvg, svgToPng } from "./_plot_render.ts";

/** One curve. */
export interface Series {
  /** Legend name. */
  name: string;
  /** (x, y) points (sorted by x here); a non-finite y breaks the line. */
  points: [number, number][];
  /**
   * Draw an exponential moving average over the raw points: `true` picks
   * the span (`round(√n)`), a number ≥ 1 sets it; absent or `false`: the
   * points as they are, with markers. Series of fewer than 8 finite points
   * are never smoothed.
   */
  smooth?: boolean | number;
}

/** A chart: title, axis labels, curves. */
export interface Chart {
  /** Title above the plot (the same text in the SVG and the PNG). */
  title: string;
  /** x-axis title ("" for none). */
  xLabel: string;
  /** y-axis title ("" for none). */
  yLabel: string;
  /** The curves, coloured in this order (matplotlib's tab10). */
  series: Series[];
}

/** A rendered chart: the SVG and the PNG drawn from it. */
export interface RenderedChart {
  /** The SVG document (text as `<text>` elements). */
  svg: string;
  /** The PNG file, 720×400, rasterised from `svg`. */
  png: Uint8Array;
  /** What the subtitle reports (non-finite values, "no data yet"). */
  notes: string[];
}

/**
 * Renders a chart as SVG, and that SVG as PNG.
 * @param chart the chart.
 * @returns the SVG text, the PNG bytes (720×400) and the subtitle's notes.
 * @example
 * ```ts
 * const { svg, png } = await renderChart({
 *   title: "loss",
 *   xLabel: "step",
 *   yLabel: "loss",
 *   series: [{ name: "train", points: [[1, 2], [2, 1]], smooth: true }],
 * });
 * ```
 */
export async function renderChart(chart: Chart): Promise<RenderedChart> {
  const { spec, notes } = chartSpec(chart);
  const svg = await specToSvg(spec);
  return { svg, png: await svgToPng(svg), notes };
}

/**
 * Renders a chart as SVG.
 * @param chart the chart.
 * @returns SVG text.
 */
export async function chartSvg(chart: Chart): Promise<string> {
  return await specToSvg(chartSpec(chart).spec);
}

/**
 * Renders a chart as PNG bytes (the SVG of {@link chartSvg}, rasterised).
 * @param chart the chart.
 * @returns the PNG file contents.
 */
export async function chartPng(chart: Chart): Promise<Uint8Array> {
  return (await renderChart(chart)).png;
}

/**
 * Writes `<dir>/<name>.svg` and `<dir>/<name>.png`.
 * @param dir the folder (must exist).
 * @param name file stem.
 * @param chart the chart.
 * @returns the subtitle's notes (non-finite values, "no data yet").
 */
export async function writeChart(
  dir: string,
  name: string,
  chart: Chart,
): Promise<string[]> {
  const { svg, png, notes } = await renderChart(chart);
  await Deno.writeTextFile(`${dir}/${name}.svg`, svg);
  await Deno.writeFile(`${dir}/${name}.png`, png);
  return notes;
}
