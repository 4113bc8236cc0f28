/**
 * Loss and metric curves from `metrics.jsonl`.
 *
 * @module
 */
import { type Series, writeChart } from "./plots.ts";

/**
 * Writes `loss.svg/png` (train and validation loss) and `metric.svg/png`
 * (validation accuracy and F1, or bits per byte) into `dir`.
 * @param dir output folder.
 * @param metricsPath the JSONL file.
 */
export async function writeCurves(
  dir: string,
  metricsPath: string,
): Promise<void> {
  const rows = (await Deno.readTextFile(metricsPath)).split("\n").filter((l) =>
    l.trim()
  )
    .map((l) => JSON.parse(l) as Record<string, number | string>);
  const series = (type: string, key: string, name: string): Series => ({
    name,
    points: rows.filter((r) => r.type === type && typeof r[key] === "number")
      .map((r) => [r.step as number, r[key] as number]),
  });
  await writeChart(dir, "loss", {
    title: "loss",
    xLabel: "step",
    yLabel: "loss",
    series: [
      series("train", "loss", "train"),
      series("eval", "val_loss", "validation"),
    ],
  });
  const lm = rows.some((r) => "val_bpb" in r);
  await writeChart(
    dir,
    "metric",
    lm
      ? {
        title: "bits per byte (validation)",
        xLabel: "step",
        yLabel: "bits/byte",
        series: [series("eval", "val_bpb", "bpb")],
      }
      : {
        title: "validation accuracy and F1",
        xLabel: "step",
        yLabel: "",
        series: [
          series("eval", "val_accuracy", "accuracy"),
          series("eval", "val_f1", "F1"),
        ],
      },
  );
}
