/**
 * Line charts of training curves as SVG (text, labels, legend) and PNG
 * (rasterised here, encoded by the pure-JS `fast-png`; tick numbers drawn
 * with a 3×5 bitmap font, series told apart by colour as in the SVG legend).
 *
 * Reference: matplotlib's default colour cycle.
 *
 * @module
 */
import { encode } from "fast-png";

/** One curve. */
export interface Series {
  name: string;
  /** (x, y) points, x increasing; non-finite y are skipped. */
  points: [number, number][];
}

/** A chart: title, axis labels, curves. */
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
];
const W = 640, H = 400, L = 70, R = 20, T = 40, B = 50;

interface Frame {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  px: (x: number) => number;
  py: (y: number) => number;
  xTicks: number[];
  yTicks: number[];
}

function ticks(a: number, b: number, n = 5): number[] {
  if (a === b) return [a];
  const raw = (b - a) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function frame(chart: Chart): Frame {
  const pts = chart.series.flatMap((s) => s.points).filter(([, y]) =>
    Number.isFinite(y)
  );
  let x0 = Math.min(...pts.map((p) => p[0]), Infinity),
    x1 = Math.max(...pts.map((p) => p[0]), -Infinity);
  let y0 = Math.min(...pts.map((p) => p[1]), Infinity),
    y1 = Math.max(...pts.map((p) => p[1]), -Infinity);
  if (!Number.isFinite(x0)) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  return {
    x0,
    x1,
    y0,
    y1,
    px: (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R),
    py: (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B),
    xTicks: ticks(x0, x1),
    yTicks: ticks(y0, y1),
  };
}

function label(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toPrecision(4)));
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Renders a chart as SVG.
 * @param chart the chart.
 * @returns SVG text.
 * @example
 * ```ts
 * const svg = chartSvg({ title: "loss", xLabel: "step", yLabel: "loss", series: [{ name: "train", points: [[1, 2], [2, 1]] }] });
 * ```
 */
export function chartSvg(chart: Chart): string {
  const f = frame(chart);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${
      esc(chart.title)
    }</text>`,
  ];
  for (const x of f.xTicks) {
    out.push(
      `<line x1="${f.px(x)}" y1="${T}" x2="${f.px(x)}" y2="${
        H - B
      }" stroke="#e5e5e5"/>`,
    );
    out.push(
      `<text x="${f.px(x)}" y="${H - B + 16}" text-anchor="middle">${
        label(x)
      }</text>`,
    );
  }
  for (const y of f.yTicks) {
    out.push(
      `<line x1="${L}" y1="${f.py(y)}" x2="${W - R}" y2="${
        f.py(y)
      }" stroke="#e5e5e5"/>`,
    );
    out.push(
      `<text x="${L - 6}" y="${f.py(y) + 4}" text-anchor="end">${
        label(y)
      }</text>`,
    );
  }
  out.push(
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${
      H - T - B
    }" fill="none" stroke="#333"/>`,
  );
  out.push(
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${
      esc(chart.xLabel)
    }</text>`,
  );
  out.push(
    `<text x="16" y="${
      (T + H - B) / 2
    }" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${
      esc(chart.yLabel)
    }</text>`,
  );
  chart.series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    const color = COLORS[i % COLORS.length];
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${
        pts.map(([x, y]) => `${f.px(x).toFixed(1)},${f.py(y).toFixed(1)}`).join(
          " ",
        )
      }"/>`,
    );
    out.push(
      `<rect x="${W - R - 130}" y="${
        T + 8 + i * 16
      }" width="12" height="3" fill="${color}"/>`,
    );
    out.push(
      `<text x="${W - R - 112}" y="${T + 13 + i * 16}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}

const GLYPHS: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001001001001",
  "8": "111101111101111",
  "9": "111101111001111",
  ".": "000000000000010",
  "-": "000000111000000",
  "e": "000111111100111",
  "+": "000010111010000",
};

function hex(c: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [
    number,
    number,
    number,
  ];
}

/**
 * Renders a chart as PNG bytes.
 * @param chart the chart.
 * @returns the PNG file contents.
 */
export function chartPng(chart: Chart): Uint8Array {
  const f = frame(chart);
  const px = new Uint8Array(W * H * 3).fill(255);
  const set = (x: number, y: number, [r, g, b]: [number, number, number]) => {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const i = (y * W + x) * 3;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  };
  const line = (
    xa: number,
    ya: number,
    xb: number,
    yb: number,
    c: [number, number, number],
    thick = 1,
  ) => {
    const n = Math.max(
      1,
      Math.ceil(Math.max(Math.abs(xb - xa), Math.abs(yb - ya))),
    );
    for (let k = 0; k <= n; k++) {
      const x = xa + ((xb - xa) * k) / n, y = ya + ((yb - ya) * k) / n;
      for (let d = 0; d < thick; d++) set(x, y + d, c);
    }
  };
  const text = (s: string, x: number, y: number, anchor: "middle" | "end") => {
    const w = s.length * 8;
    let cx = anchor === "middle" ? x - w / 2 : x - w;
    for (const ch of s) {
      const g = GLYPHS[ch];
      if (g) {
        for (let r = 0; r < 5; r++) {
          for (let c = 0; c < 3; c++) {
            if (g[r * 3 + c] === "1") {
              for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
                set(cx + c * 2 + dx, y + r * 2 + dy, [40, 40, 40]);
              }
            }
          }
        }
      }
      cx += 8;
    }
  };
  const grid = hex("#e5e5e5"), dark = hex("#333333");
  for (const x of f.xTicks) {
    line(f.px(x), T, f.px(x), H - B, grid);
    text(label(x), f.px(x), H - B + 6, "middle");
  }
  for (const y of f.yTicks) {
    line(L, f.py(y), W - R, f.py(y), grid);
    text(label(y), L - 6, f.py(y) - 5, "end");
  }
  line(L, T, W - R, T, dark);
  line(L, H - B, W - R, H - B, dark);
  line(L, T, L, H - B, dark);
  line(W - R, T, W - R, H - B, dark);
  chart.series.forEach((s, i) => {
    const c = hex(COLORS[i % COLORS.length]);
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    for (let k = 1; k < pts.length; k++) {
      line(
        f.px(pts[k - 1][0]),
        f.py(pts[k - 1][1]),
        f.px(pts[k][0]),
        f.py(pts[k][1]),
        c,
        2,
      );
    }
    if (pts.length === 1) {
      line(
        f.px(pts[0][0]) - 2,
        f.py(pts[0][1]),
        f.px(pts[0][0]) + 2,
        f.py(pts[0][1]),
        c,
        3,
      );
    }
    line(W - R - 130, T + 10 + i * 16, W - R - 118, T + 10 + i * 16, c, 3);
  });
  return encode({ width: W, height: H, data: px, channels: 3, depth: 8 });
}

/**
 * Writes `<dir>/<name>.svg` and `<dir>/<name>.png`.
 * @param dir the folder (must exist).
 * @param name file stem.
 * @param chart the chart.
 */
export async function writeChart(
  dir: string,
  name: string,
  chart: Chart,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.svg`, chartSvg(chart));
  await Deno.writeFile(`${dir}/${name}.png`, chartPng(chart));
}
