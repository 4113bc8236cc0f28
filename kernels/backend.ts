/**
 * The one tfjs instance this project uses, and backend selection.
 *
 * The WebGPU backend is registered here rather than by the package's own side
 * effect, so that the device is requested with every limit the adapter offers:
 * tfjs's default keeps `maxStorageBuffersPerShaderStage` at 8, and a program
 * with more bindings fails silently (../shared notes, "Custom WebGPU kernels").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "./_wasm_kernels.ts";
import "./_reduce_grads.ts";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** The tfjs namespace (`@tensorflow/tfjs` 4.22) every part of the project uses; import it from here, never a second copy. */
export { tf };

// Production mode: no console warnings such as "looks like you are running
// TensorFlow.js in Node.js" (Deno is not Node; tfjs-node does not apply).
tf.env().set("PROD", true);

/**
 * How many dispatches tfjs-webgpu records before it submits its command
 * encoder (tfjs's default is 15; it also submits before every readback),
 * chosen per adapter when the backend starts, unless the flag was set first.
 * On a software adapter each submit costs about as much as the work of a
 * small model, and 1024 made a forward 9× faster on llvmpipe
 * (bench/profile_gpu.ts). On the H200, 16 let the GPU start while JavaScript
 * was still issuing the rest: the Mamba-130m-shape forward at b=1, l=2048
 * took 52 ms waited for instead of 82 with 1024 (bench/model_gpu.ts
 * --submit-batch, BENCHMARKS.md).
 */
/** The tfjs-webgpu flag: how many dispatches it records before a submit. */
export const SUBMIT_BATCH = "WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE";
const SUBMIT_BATCH_SOFTWARE = 1024;
const SUBMIT_BATCH_HARDWARE = 16;
/** PCI vendor id WebGPU reports for Mesa's software rasteriser (llvmpipe, lavapipe). */
export const SOFTWARE_VENDOR = String(0x10005);

/** Names of the backends this project runs on. */
export type BackendName = "cpu" | "wasm" | "webgpu";

/** Every backend name, in the order `"auto"` tries them (fastest first). */
export const BACKENDS: readonly BackendName[] = ["webgpu", "wasm", "cpu"];

const ADAPTER_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeInvocationsPerWorkgroup",
] as const;

const OPTIONAL_FEATURES = ["timestamp-query", "shader-f16"] as const;

let webgpuRegistered = false;

/** Whether {@linkcode preferVulkan} has looked (once per process is enough). */
let vulkanChecked = false;

/** Where the Vulkan loader looks for installable client drivers (ICDs). */
const VULKAN_ICD_DIRS = [
  "/usr/share/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
  "/etc/vulkan/icd.d",
];

/**
 * On Linux, asks Deno's WebGPU for its Vulkan backend when a Vulkan driver is
 * installed and the user has not chosen (`DENO_WEBGPU_BACKEND`): otherwise
 * wgpu also opens its GL backend through EGL, and with Mesa's software EGL
 * about one process in six that used it died at exit in a glibc
 * heap-corruption abort ("corrupted size vs. prev_size in fastbins"), after
 * its work was done (wgpu issues 4285 and 4650 describe the same EGL
 * teardown). Vulkan is what wgpu calls a primary backend; with Mesa's
 * lavapipe the same tests pass and the abort was not seen. Must run before
 * the first `navigator.gpu` request (Deno reads the variable then); without
 * env or read permission it does nothing.
 */
function preferVulkan(): void {
  if (vulkanChecked) return;
  vulkanChecked = true;
  try {
    if (Deno.build.os !== "linux" || Deno.env.get("DENO_WEBGPU_BACKEND")) {
      return;
    }
    const named = Deno.env.get("VK_DRIVER_FILES") ??
      Deno.env.get("VK_ICD_FILENAMES");
    const installed = VULKAN_ICD_DIRS.some((dir) => {
      try {
        return [...Deno.readDirSync(dir)].some((e) => e.name.endsWith(".json"));
      } catch {
        return false;
      }
    });
    if (named || installed) Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  } catch {
    // No permission to read the environment or the folders: leave it to Deno.
  }
}

function registerWebGPU(): void {
  if (webgpuRegistered) return;
  webgpuRegistered = true;
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return;
  tf.registerBackend("webgpu", async () => {
    preferVulkan();
    const adapter = await gpu.requestAdapter({
      powerPreference: "high-performance",
    });
    if (!adapter) throw new Error("webgpu: no adapter found");
    const requiredLimits: Record<string, number> = {};
    for (const name of ADAPTER_LIMITS) {
      const value = adapter.limits[name];
      if (typeof value === "number") requiredLimits[name] = value;
    }
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) =>
      adapter.features.has(f)
    );
    const device = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures,
    });
    if (!(SUBMIT_BATCH in tf.env().getFlags())) {
      tf.env().set(
        SUBMIT_BATCH,
        adapter.info.vendor === SOFTWARE_VENDOR
          ? SUBMIT_BATCH_SOFTWARE
          : SUBMIT_BATCH_HARDWARE,
      );
    }
    return new WebGPUBackend(device, adapter.info);
  }, 3);
}
registerWebGPU();

/**
 * Whether a WebGPU adapter exists here (a real GPU, or a software one such as
 * llvmpipe).
 *
 * @returns true when `navigator.gpu.requestAdapter()` returns an adapter.
 */
export async function hasWebGPU(): Promise<boolean> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return false;
  preferVulkan();
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * Selects the tfjs backend every later op runs on.
 *
 * @param name `"cpu"`, `"wasm"`, `"webgpu"`, or `"auto"` (webgpu → wasm → cpu:
 *   the first that initialises).
 * @returns the name of the backend now active.
 * @throws Error naming the backend when it cannot be initialised.
 * @example
 * ```ts
 * import { setBackend } from "./mod.ts";
 * await setBackend("wasm");
 * ```
 */
export async function setBackend(
  name: BackendName | "auto",
): Promise<BackendName> {
  if (name === "auto") {
    for (const candidate of BACKENDS) {
      if (candidate === "webgpu" && !(await hasWebGPU())) continue;
      try {
        return await setBackend(candidate);
      } catch {
        // try the next one
      }
    }
    throw new Error("setBackend: no backend could be initialised");
  }
  if (!BACKENDS.includes(name)) {
    throw new Error(
      `setBackend: expected one of ${BACKENDS.join(", ")} or "auto", received ${
        JSON.stringify(name)
      }`,
    );
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`setBackend: backend "${name}" failed to initialise`);
  }
  return name;
}

/** The backend tfjs runs on now.
 * @returns the name of the active backend. */
export function getBackend(): BackendName {
  return tf.getBackend() as BackendName;
}
