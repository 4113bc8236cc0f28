/**
 * Builds the browser page into a static folder (default `dist/web/`):
 * `index.html`, `main.js` (examples/web/main.ts and the library, bundled by
 * `deno bundle --platform=browser`) and tfjs-backend-wasm's `.wasm` binaries
 * beside them (the page points `setWasmPaths` at its own folder). Serve the
 * folder with any static server (`python3 -m http.server -d dist/web`);
 * opened from disk (file://) the browser refuses the module script.
 *
 * Usage: `deno task web [--out dist/web] [--no-minify]`
 *
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const HERE = fromFileUrl(new URL("./", import.meta.url));
const WASM_DIR = join(ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/dist");
const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];

/** Options of {@linkcode buildWeb}. */
export interface BuildOptions {
  /** Minify main.js (default true). */
  minify?: boolean;
}

/**
 * Builds the page.
 *
 * @param out the output folder (created; its files are replaced).
 * @param options minify.
 * @returns the output folder.
 * @throws Error with `deno bundle`'s output when bundling fails, or naming a
 *   missing wasm binary.
 */
export async function buildWeb(
  out: string,
  options: BuildOptions = {},
): Promise<string> {
  await Deno.mkdir(out, { recursive: true });
  // The root import map plus one entry: the decode engine's `node:timers`
  // becomes a browser shim (_timers.ts).
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const importMap = join(out, "import_map.json");
  await Deno.writeTextFile(
    importMap,
    JSON.stringify({
      imports: {
        ...config.imports,
        "node:timers": "./" + relative(out, join(HERE, "_timers.ts")),
      },
    }),
  );
  const args = [
    "bundle",
    "--quiet",
    "--platform=browser",
    `--import-map=${importMap}`,
    "--output",
    join(out, "main.js"),
    ...(options.minify === false ? [] : ["--minify"]),
    join(HERE, "main.ts"),
  ];
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(importMap);
  const text = new TextDecoder();
  if (!result.success) {
    throw new Error(
      `deno bundle failed (exit ${result.code}):\n${
        text.decode(result.stderr)
      }${text.decode(result.stdout)}`,
    );
  }
  const bundle = await Deno.readTextFile(join(out, "main.js"));
  const left = /\bfrom\s*"(node:[^"]+)"/.exec(bundle);
  if (left) {
    throw new Error(
      `main.js imports ${
        left[1]
      }, which browsers cannot load: map it in examples/web/build.ts`,
    );
  }
  await Deno.copyFile(join(HERE, "index.html"), join(out, "index.html"));
  for (const file of WASM_FILES) {
    try {
      await Deno.copyFile(join(WASM_DIR, file), join(out, file));
    } catch (e) {
      throw new Error(
        `${join(WASM_DIR, file)}: cannot copy (${
          (e as Error).message
        }); run \`deno install\` first`,
      );
    }
  }
  return out;
}

if (import.meta.main) {
  const args = Deno.args;
  const unknown = args.filter((a, i) =>
    !["--out", "--no-minify", "--help", "-h"].includes(a.split("=")[0]) &&
    args[i - 1] !== "--out"
  );
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      "Usage: deno task web [--out dist/web] [--no-minify]\n" +
        "Builds the browser page (examples/web/) into a static folder.",
    );
    Deno.exit(0);
  }
  if (unknown.length > 0) {
    console.error(
      `web: unknown argument ${unknown[0]} (expected --out DIR, --no-minify)`,
    );
    Deno.exit(2);
  }
  const at = args.findIndex((a) => a === "--out" || a.startsWith("--out="));
  const out = at < 0
    ? join(ROOT, "dist/web")
    : args[at].includes("=")
    ? args[at].slice("--out=".length)
    : args[at + 1];
  if (!out) {
    console.error("web: --out: expected a folder, received nothing");
    Deno.exit(2);
  }
  await buildWeb(out, { minify: !args.includes("--no-minify") });
  console.log(
    `built ${out}/index.html; serve the folder, e.g. python3 -m http.server -d ${out}`,
  );
}
