/**
 * Loss and metric curves from `metrics.jsonl`: `loss.svg/png` (train loss raw
 * and smoothed, validation loss) and `metric.svg/png` (accuracy and F1 for a
 * classifier, bits per byte for a language model; train and validation where
 * both are logged).
 *
 * @module
 */
import { type Chart, type Series, writeChart } from "./plots.ts";

/** One line of `metrics.jsonl`. */
export type Row = Record<string, unknown>;

/**
 * Parses the JSONL log; a line that is not a JSON object is an error naming
 * the file and the line.
 * @param text the file's text.
 * @param path the file, for errors.
 * @returns the rows.
 */
export function parseMetrics(text: string, path: string): Row[] {
  const rows: Row[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      // A line cut short by a kill is the last one; earlier ones must parse.
      if (i === text.trimEnd().split("\n").length - 1) return;
      throw new Error(
        `${path}:${i + 1}: expected a JSON object, received ${
          JSON.stringify(line.slice(0, 60))
        } (${(err as Error).message})`,
      );
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      throw new Error(
        `${path}:${i + 1}: expected a JSON object, received ${
          JSON.stringify(line.slice(0, 60))
        }`,
      );
    }
    rows.push(row as Row);
  });
  return rows;
}

/**
 * The `(step, row[key])` points of rows of one type; a step logged twice (a
 * resumed run) keeps its last value. `null` (how JSON writes NaN) is NaN.
 */
function points(rows: Row[], type: string, key: string): [number, number][] {
  const byStep = new Map<number, number>();
  for (const r of rows) {
    if (r.type !== type || typeof r.step !== "number" || !(key in r)) continue;
    const v = r[key];
    byStep.set(r.step, typeof v === "number" ? v : NaN);
  }
  return [...byStep].sort((a, b) => a[0] - b[0]);
}

/**
 * The charts for a metrics log (exported for tests).
 * @param rows the parsed rows.
 * @returns the loss chart and the metric chart.
 */
export function curveCharts(rows: Row[]): { loss: Chart; metric: Chart } {
  const both = (key: string, name: string): Series[] => {
    const out: Series[] = [];
    const train = points(rows, "train", key);
    if (train.length) {
      out.push({ name: `train ${name}`, points: train, smooth: true });
    }
    const val = points(rows, "eval", `val_${key}`);
    if (val.length) out.push({ name: `validation ${name}`, points: val });
    return out;
  };
  const loss: Chart = {
    title: "Loss",
    xLabel: "step",
    yLabel: "loss",
    series: [
      { name: "train", points: points(rows, "train", "loss"), smooth: true },
      { name: "validation", points: points(rows, "eval", "val_loss") },
    ].filter((s) => s.points.length > 0),
  };
  const lm = rows.some((r) => "val_bpb" in r);
  const metric: Chart = lm
    ? {
      title: "Bits per byte",
      xLabel: "step",
      yLabel: "bits per byte",
      series: both("bpb", "bpb"),
    }
    : {
      title: "Accuracy and F1",
      xLabel: "step",
      yLabel: "score (0–1)",
      series: [...both("accuracy", "accuracy"), ...both("f1", "F1")],
    };
  return { loss, metric };
}

/**
 * Writes `loss.svg/png` and `metric.svg/png` into `dir`.
 * @param dir output folder.
 * @param metricsPath the JSONL file.
 * @returns the charts' notes (non-finite values, "no data yet"), if any.
 */
export async function writeCurves(
  dir: string,
  metricsPath: string,
): Promise<string[]> {
  const rows = parseMetrics(await Deno.readTextFile(metricsPath), metricsPath);
  const { loss, metric } = curveCharts(rows);
  const notes = await writeChart(dir, "loss", loss);
  notes.push(...await writeChart(dir, "metric", metric));
  return notes;
}
