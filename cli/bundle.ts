/**
 * `deno task bundle [--out dist/mamba-serve.js]`: writes one self-contained
 * JS file (`deno bundle`: npm dependencies and tfjs's `.wasm` binaries
 * included) that serves a model folder or URL on the wasm backend (cpu when
 * wasm cannot start), with nothing installed but Deno:
 *
 *     deno run -A dist/mamba-serve.js --model <dir|url> [--port 8000]
 *
 * Reference: Deno `deno bundle`; tfjs-backend-wasm README, "Using bundlers".
 *
 * @module
 */
import { encodeBase64 } from "./_base64.ts";
import { parseFlagsOrExit } from "./_flags.ts";

const HELP = `usage: deno task bundle [--out dist/mamba-serve.js]
Writes one self-contained JS file that serves a model on the wasm backend
(cpu when wasm cannot start); run it with:
  deno run -A <out> --model <dir|url> [--port 8000] (the flags of deno task serve)
  --out FILE             the bundle to write (default dist/mamba-serve.js)`;

const WASM_FILES = ["tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm.wasm"];

/**
 * Bundles the edge server.
 *
 * @param out the output file.
 * @returns its size in bytes.
 */
export async function bundleEdge(out: string): Promise<number> {
  const root = new URL("../", import.meta.url);
  const dist = new URL(
    "node_modules/@tensorflow/tfjs-backend-wasm/dist/",
    root,
  );
  const lines = [
    `import { runEdge } from ${
      JSON.stringify(new URL("cli/_edge_entry.ts", root).href)
    };`,
    `import { decodeBase64 } from ${
      JSON.stringify(new URL("cli/_base64.ts", root).href)
    };`,
    "const wasm = {",
  ];
  for (const name of WASM_FILES) {
    const bytes = await Deno.readFile(new URL(name, dist));
    lines.push(
      `  ${JSON.stringify(name)}: decodeBase64("${encodeBase64(bytes)}"),`,
    );
  }
  lines.push("};", "await runEdge(wasm);", "");
  const tmp = await Deno.makeTempDir({ prefix: "mamba-bundle-" });
  const entry = `${tmp}/edge.ts`;
  await Deno.writeTextFile(entry, lines.join("\n"));
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--config",
        new URL("deno.json", root).pathname,
        "-o",
        out,
        entry,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) throw new Error(`deno bundle exited with ${code}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return (await Deno.stat(out)).size;
}

if (import.meta.main) {
  const a = parseFlagsOrExit(Deno.args, { out: "string" }, HELP);
  const out = a.out ?? "dist/mamba-serve.js";
  const slash = out.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(out.slice(0, slash), { recursive: true });
  try {
    const size = await bundleEdge(out);
    console.log(
      `wrote ${out} (${
        (size / 2 ** 20).toFixed(1)
      } MiB); run it with: deno run -A ${out} --model <dir|url> [--port 8000]`,
    );
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
