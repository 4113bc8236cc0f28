/**
 * Vega-Lite spec → SVG (`vega-lite` compiles, `vega`'s headless View renders)
 * → PNG (`@resvg/resvg-wasm`, with DejaVu Sans from `dejavu-fonts-ttf`, so
 * the PNG's text is the SVG's text drawn with a font that ships with the
 * package, on any machine and offline).
 *
 * The libraries (about 0.3 s to import) and the wasm module and fonts are
 * loaded on first use and kept: a training run pays that once.
 *
 * Reference: Vega `View.toSVG` (headless rendering, vega.github.io/vega/usage);
 * resvg-js `Resvg` with `font.fontBuffers` (its wasm README).
 *
 * @module
 */
import { createRequire } from "node:module";
import type { TopLevelSpec } from "vega-lite";

/** Regular and bold (titles) DejaVu Sans, from the npm package. */
const FONT_FILES = [
  "dejavu-fonts-ttf/ttf/DejaVuSans.ttf",
  "dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf",
];
const WASM_FILE = "@resvg/resvg-wasm/index_bg.wasm";

interface Libs {
  vega: typeof import("vega");
  vl: typeof import("vega-lite");
  Resvg: typeof import("@resvg/resvg-wasm").Resvg;
  fonts: Uint8Array[];
}

let libs: Promise<Libs> | undefined;

async function readPackageFile(spec: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(createRequire(import.meta.url).resolve(spec));
  } catch (err) {
    throw new Error(
      `plots: cannot read ${spec} from node_modules (${
        (err as Error).message
      }); run \`deno install\` in the project folder`,
    );
  }
}

async function load(): Promise<Libs> {
  const [vega, vl, resvg, wasm, ...fonts] = await Promise.all([
    import("vega"),
    import("vega-lite"),
    import("@resvg/resvg-wasm"),
    readPackageFile(WASM_FILE),
    ...FONT_FILES.map(readPackageFile),
  ]);
  await resvg.initWasm(wasm);
  return { vega, vl, Resvg: resvg.Resvg, fonts };
}

function libraries(): Promise<Libs> {
  libs ??= load().catch((err) => {
    libs = undefined;
    throw err;
  });
  return libs;
}

/**
 * Renders a Vega-Lite spec to SVG text (text as `<text>` elements).
 * @param spec the spec (inline data only; nothing is fetched).
 * @returns the SVG document.
 */
export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vl } = await libraries();
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), {
    renderer: "none",
    logLevel: vega.Warn,
  });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises SVG text to PNG at its own size (1 px per SVG unit).
 * @param svg the SVG document.
 * @returns the PNG file contents (RGBA, 8 bit).
 */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const { Resvg, fonts } = await libraries();
  const resvg = new Resvg(svg, {
    background: "white",
    font: {
      fontBuffers: fonts,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  try {
    const image = resvg.render();
    try {
      return image.asPng();
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}
