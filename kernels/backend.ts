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

/**
 * Keeps a headless probe quiet: Mesa's Vulkan device-selection layer
 * (`VK_LAYER_MESA_device_select`, installed with `mesa-vulkan-drivers`, so
 * with lavapipe too) opens a Wayland connection to rank the GPUs, and without
 * `XDG_RUNTIME_DIR` (or with one that is not an absolute path) libwayland
 * prints "error: XDG_RUNTIME_DIR is invalid or not set in the environment."
 * on every adapter request. Then there is no Wayland session to ask, so
 * the layer is turned off (`NODEVICE_SELECT=1`, the layer's own switch)
 * unless the user asked it to pick a device (`MESA_VK_DEVICE_SELECT`,
 * `DRI_PRIME`). wgpu
 * still sees every adapter and picks by `powerPreference`. Must run before
 * the first adapter request; without env permission it does nothing.
 */
export function quietDeviceSelect(): void {
  try {
    const env = Deno.env;
    if (
      // libwayland refuses a runtime dir that is not an absolute path too.
      env.get("XDG_RUNTIME_DIR")?.startsWith("/") ||
      env.get("NODEVICE_SELECT") !== undefined ||
      env.get("MESA_VK_DEVICE_SELECT") || env.get("DRI_PRIME")
    ) return;
    env.set("NODEVICE_SELECT", "1");
  } catch {
    // No permission to read or set the environment: leave it.
  }
}

/**
 * tfjs-webgpu reads a GPU tensor synchronously (`dataSync`, `arraySync`,
 * `print`) through a 2-D canvas, which Deno does not have: the read failed
 * with "Cannot read properties of null (reading 'clearRect')". This backend
 * says what to do instead; everything else is tfjs's.
 */
class WebGPUBackendForDeno extends WebGPUBackend {
  override readSync(dataId: object): ReturnType<WebGPUBackend["readSync"]> {
    try {
      return super.readSync(dataId);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      throw new Error(
        'webgpu: dataSync(), arraySync() and print() cannot read a GPU tensor synchronously here (no 2-D canvas); use await tensor.data() or await tensor.array(), or setBackend("wasm")',
        { cause: err },
      );
    }
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
    quietDeviceSelect();
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
    return new WebGPUBackendForDeno(device, adapter.info);
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
  quietDeviceSelect();
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

let autoChoice: Promise<BackendName> | null = null;
let announced = false;

function announce(name: BackendName, why: string): void {
  if (announced) return;
  announced = true;
  try {
    console.error(`mamba-ts: using the ${name} backend, ${why}`);
  } catch {
    // no stderr (a browser worker without console): say nothing
  }
}

/** Whether tfjs has an initialised backend now (the user's or an earlier automatic one). */
function backendReady(): boolean {
  const engine = tf.engine();
  return engine.backendName != null &&
    engine.registry[engine.backendName] != null;
}

/**
 * Makes sure a backend is ready before the library's first op: when nobody
 * has called {@linkcode setBackend}, picks one as `setBackend("auto")` does
 * (webgpu → wasm → cpu) and says which on stderr, once per process. `loadModel`
 * and the other async entry points call it; a backend chosen earlier is left
 * as it is.
 *
 * @returns the name of the active backend.
 * @example
 * ```ts
 * import { ensureBackend } from "./backend.ts";
 * const name = await ensureBackend(); // "webgpu" where an adapter exists
 * ```
 */
export async function ensureBackend(): Promise<BackendName> {
  if (autoChoice) return await autoChoice;
  if (tf.engine().backendName != null) {
    await tf.ready();
    return getBackend();
  }
  autoChoice = setBackend("auto").then((name) => {
    announce(
      name,
      "picked automatically (webgpu, else wasm, else cpu); call setBackend() to choose",
    );
    return name;
  });
  return await autoChoice;
}

/**
 * The synchronous form of {@linkcode ensureBackend}, for `buildModel`: when
 * no backend is ready it selects cpu, the only one that starts without
 * waiting (webgpu and wasm start asynchronously), and says so once.
 *
 * @returns the name of the active backend.
 * @throws Error when a backend is still starting (await it first).
 */
export function ensureBackendSync(): BackendName {
  if (backendReady()) return getBackend();
  const pending = tf.engine().backendName;
  if (pending != null) {
    throw new Error(
      `backend ${pending} is still starting: await setBackend(${
        JSON.stringify(pending)
      }) (or loadModel) before building a model`,
    );
  }
  void tf.setBackend("cpu"); // cpu's factory is synchronous: ready on return
  if (!backendReady()) {
    throw new Error("backend cpu failed to initialise");
  }
  announce(
    "cpu",
    'as buildModel needs one at once and only cpu starts without waiting; await setBackend("auto") before it for webgpu or wasm',
  );
  return "cpu";
}

/** The backend tfjs runs on now.
 * @returns the name of the active backend. */
export function getBackend(): BackendName {
  return tf.getBackend() as BackendName;
}
