/**
 * Private: the edge bundle's runtime — `cli/serve.ts` on the wasm backend
 * (cpu when wasm cannot start), no WebGPU. `cli/bundle.ts` generates the
 * bundle's entry, which embeds tfjs's `.wasm` binaries and calls
 * {@linkcode runEdge}: a bundled file has no node_modules folder to load
 * them from.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { main } from "./serve.ts";

/**
 * Starts the server from Deno.args on wasm.
 *
 * @param wasm tfjs-backend-wasm binaries by file name (embedded by the bundler).
 */
export async function runEdge(wasm: Record<string, Uint8Array>): Promise<void> {
  // Emscripten's Node branch reads __dirname, which a bundle does not define;
  // the binaries come from the map below, so the folder is never used.
  const g = globalThis as Record<string, unknown>;
  g.__dirname ??= "/";
  const urls: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(wasm)) {
    urls[name] = URL.createObjectURL(
      new Blob([bytes as BlobPart], { type: "application/wasm" }),
    );
  }
  // No worker threads in the bundle: the threaded binary is never loaded.
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  urls["tfjs-backend-wasm-threaded-simd.wasm"] =
    urls["tfjs-backend-wasm-simd.wasm"];
  setWasmPaths(urls, true);
  let backend: "wasm" | "cpu" = "wasm";
  try {
    if (!await tf.setBackend("wasm")) throw new Error("wasm did not start");
    await tf.ready();
  } catch {
    backend = "cpu";
  }
  try {
    await main(Deno.args, backend);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
