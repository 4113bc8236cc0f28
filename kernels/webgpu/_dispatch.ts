/**
 * Raw compute dispatches recorded into the tfjs WebGPU backend's own command
 * encoder, so hand-written WGSL with several outputs runs in order with every
 * other tfjs op, batched into the same submits.
 *
 * tfjs's `runWebGPUProgram` allows one output per program; the scan needs
 * several (y, final state, checkpoints; five gradients), and a copy to split a
 * packed output would cost more than the scan's own traffic. This mirrors
 * `WebGPUBackend.recordAndSubmit` (tfjs-backend-webgpu 4.22) instead.
 *
 * Reference: tfjs-backend-webgpu 4.22 `backend_webgpu.ts` (`recordAndSubmit`).
 *
 * @module
 */
import { SOFTWARE_VENDOR, SUBMIT_BATCH, tf } from "../backend.ts";

/** The parts of tfjs 4.22's WebGPUBackend used here (not all are public). */
interface Backend {
  device: GPUDevice;
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  uniformPendingDisposal: GPUBuffer[];
  bufferManager: {
    acquireBuffer(size: number, usage: number): GPUBuffer;
  };
  tensorMap: {
    get(id: object): { resource: unknown; values?: ArrayLike<number> | null };
  };
  makeTensorInfo(shape: number[], dtype: "float32"): tf.TensorInfo;
  uploadToGPU(id: object): void;
  disposeData(id: object, force?: boolean): boolean;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** @returns the active tfjs backend as the WebGPU backend's internals. */
export function webgpuBackend(): Backend {
  if (tf.getBackend() !== "webgpu") {
    throw new Error(
      `kernels/webgpu: expected the "webgpu" backend, received "${tf.getBackend()}"`,
    );
  }
  return tf.backend() as unknown as Backend;
}

/**
 * Whether the webgpu backend runs on a software adapter (Mesa's llvmpipe or
 * lavapipe), where workgroup barriers run thread by thread and launch shapes
 * tuned for a real GPU are slow.
 *
 * @returns true on a software adapter.
 */
export function onSoftwareAdapter(): boolean {
  const info = (webgpuBackend() as unknown as {
    adapterInfo?: { vendor?: string };
  }).adapterInfo;
  return info?.vendor === SOFTWARE_VENDOR;
}

/**
 * One compute dispatch, described rather than recorded: which shader, its
 * uniforms and its grid. The kernels' tfjs entry points record it
 * ({@linkcode dispatchLaunch}); a prebuilt forward (`infer/gpu_forward.ts`)
 * binds it to buffers of its own once. Its storage bindings, in order, are
 * documented where it is made.
 */
export interface Launch {
  /** Pipeline cache key: everything baked into `wgsl`. */
  key: string;
  wgsl: () => string;
  /** u32 fields of the uniform struct bound after the storage buffers. */
  uniforms: number[];
  /** Workgroup counts (x, y, z). */
  groups: [number, number, number];
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** Per device, shader keys whose pipeline it rejected, with its message. */
const failures = new WeakMap<GPUDevice, Map<string, string>>();

/**
 * Compiles (once per device and shaderKey) a compute pipeline.
 *
 * @param device the device.
 * @param shaderKey everything baked into `wgsl`, as a string.
 * @param wgsl the shader's text, built only on a cache miss.
 * @returns the cached pipeline.
 */
export function pipeline(
  device: GPUDevice,
  shaderKey: string,
  wgsl: () => string,
): GPUComputePipeline {
  let failed = failures.get(device);
  if (!failed) failures.set(device, failed = new Map());
  const failure = failed.get(shaderKey);
  if (failure !== undefined) {
    throw new Error(
      `kernels/webgpu: pipeline ${shaderKey}: expected a valid shader, the device rejected it: ${failure}`,
    );
  }
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  let p = cache.get(shaderKey);
  if (!p) {
    // An invalid shader makes an invalid pipeline whose dispatches do
    // nothing (outputs keep whatever was there). The error scope's answer
    // comes asynchronously: from then on this key throws.
    device.pushErrorScope("validation");
    const module = device.createShaderModule({
      code: wgsl(),
      label: shaderKey,
    });
    p = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: shaderKey,
    });
    device.popErrorScope().then((error) => {
      if (error) {
        failed!.set(shaderKey, error.message);
        console.error(
          `kernels/webgpu: pipeline ${shaderKey}: ${error.message}`,
        );
      }
    });
    cache.set(shaderKey, p);
  }
  return p;
}

let poison = false;

/**
 * Test hook: when on, every output buffer is filled with NaN before the
 * kernel that writes it runs, so an element the kernel leaves unwritten
 * shows up as NaN.
 *
 * @param on whether to poison outputs.
 */
export function setPoisonOutputs(on: boolean): void {
  poison = on;
}

/**
 * Submits what tfjs has recorded, so that work submitted next (by code that
 * records its own command buffers) sees its results.
 *
 * @param backend the WebGPU backend.
 */
export function flushTfjs(backend: Backend): void {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/**
 * Allocates a float32 tensor on the GPU (contents undefined, or NaN when
 * poisoning is on).
 *
 * @param backend the WebGPU backend.
 * @param shape its shape.
 * @returns the TensorInfo (owned by the caller).
 */
export function allocate(backend: Backend, shape: number[]): tf.TensorInfo {
  const info = backend.makeTensorInfo(shape, "float32");
  backend.uploadToGPU(info.dataId);
  const size = shape.reduce((a, b) => a * b, 1);
  if (poison && size > 0) {
    // Submit what is pending first, so the fill lands after earlier users of a
    // recycled buffer and before this kernel.
    flushTfjs(backend);
    backend.queue.writeBuffer(
      gpuBuffer(backend, info),
      0,
      new Float32Array(size).fill(NaN),
    );
  }
  return info;
}

/**
 * @param backend the WebGPU backend.
 * @param t a tensor on that backend.
 * @returns its GPU buffer (uploaded first if it lives on the CPU).
 */
export function gpuBuffer(backend: Backend, t: tf.TensorInfo): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  return backend.tensorMap.get(t.dataId).resource as GPUBuffer;
}

/**
 * Whether a tensor is all zeros and still lives on the CPU (never uploaded).
 * tfjs's engine makes such a tensor (`makeZerosTypedArray`) as the gradient
 * of every kernel output the loss does not use; binding it would upload it
 * through a fresh mapped staging buffer, which in Deno costs far more than
 * its size suggests (a fresh buffer per upload, copied on map; seconds per
 * 100 MB measured on the H200), so kernels check first.
 *
 * @param backend the WebGPU backend.
 * @param t a tensor on that backend.
 * @returns true when `t` has no GPU buffer and every value is 0.
 */
export function isCpuZeros(backend: Backend, t: tf.TensorInfo): boolean {
  const data = backend.tensorMap.get(t.dataId);
  if (data.resource != null || !data.values) return false;
  const v = data.values;
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

/**
 * Allocates a float32 tensor on the GPU and zeroes it there (`clearBuffer`
 * in tfjs's pending command encoder: no upload).
 *
 * @param backend the WebGPU backend.
 * @param shape its shape.
 * @returns the TensorInfo (owned by the caller).
 */
export function gpuZeros(backend: Backend, shape: number[]): tf.TensorInfo {
  const info = allocate(backend, shape);
  if (shape.reduce((a, b) => a * b, 1) === 0) return info;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.commandEncoder!.clearBuffer(gpuBuffer(backend, info));
  backend.commandQueueOwnedIds.add(info.dataId);
  return info;
}

/**
 * Lays out a one-dimensional count of workgroups as a grid within the
 * device's per-dimension limit (the shader is given gx to flatten it back).
 *
 * @param device the device.
 * @param groups how many workgroups.
 * @returns [gx, gy, 1] with gx · gy ≥ groups.
 */
export function groupGrid(
  device: GPUDevice,
  groups: number,
): [number, number, number] {
  const gx = Math.min(groups, device.limits.maxComputeWorkgroupsPerDimension);
  return [gx, Math.ceil(groups / Math.max(gx, 1)), 1];
}

const layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

/**
 * @param pipe a compute pipeline.
 * @returns its bind group layout 0, asked of the device once per pipeline
 *   (each `getBindGroupLayout` call makes a new layout object in Deno's WebGPU).
 */
export function layoutOf(pipe: GPUComputePipeline): GPUBindGroupLayout {
  let layout = layouts.get(pipe);
  if (!layout) {
    layout = pipe.getBindGroupLayout(0);
    layouts.set(pipe, layout);
  }
  return layout;
}

/**
 * Records one dispatch into tfjs's pending command encoder.
 *
 * @param backend the WebGPU backend.
 * @param pipe a pipeline from {@linkcode pipeline}.
 * @param buffers tensors bound at bindings 0.. in order (outputs first).
 * @param uniforms u32 values bound after them as one uniform struct.
 * @param groups workgroup counts (x, y, z).
 */
export function dispatch(
  backend: Backend,
  pipe: GPUComputePipeline,
  buffers: tf.TensorInfo[],
  uniforms: number[],
  groups: [number, number, number],
): void {
  if (groups.some((g) => g === 0)) return;
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups.some((g) => g > limit)) {
    throw new Error(
      `kernels/webgpu: dispatch ${groups} exceeds maxComputeWorkgroupsPerDimension ${limit}`,
    );
  }
  const data = uniformWords(uniforms);
  const ubuf = backend.bufferManager.acquireBuffer(
    data.byteLength,
    GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM,
  );
  backend.queue.writeBuffer(ubuf, 0, data);
  backend.uniformPendingDisposal.push(ubuf);
  for (const t of buffers) backend.commandQueueOwnedIds.add(t.dataId);
  const group = bindGroup(backend.device, pipe, [
    ...buffers.map((t) => gpuBuffer(backend, t)),
    ubuf,
  ]);
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass();
  }
  backend.computePassEncoder.setPipeline(pipe);
  backend.computePassEncoder.setBindGroup(0, group);
  backend.computePassEncoder.dispatchWorkgroups(...groups);
  backend.dispatchCountInPass++;
  const batch = tf.env().get(SUBMIT_BATCH) as number;
  if (batch <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

/**
 * @param values u32 fields of a uniform struct.
 * @returns them padded to whole 16-byte rows (at least one), as uniform
 *   buffers are bound.
 */
export function uniformWords(values: number[]): Uint32Array<ArrayBuffer> {
  const data = new Uint32Array(Math.max(4, Math.ceil(values.length / 4) * 4));
  data.set(values);
  return data;
}

/**
 * @param device the device.
 * @param pipe a pipeline from {@linkcode pipeline}.
 * @param buffers bound at bindings 0.. in order (whole buffers).
 * @returns the bind group of layout 0.
 */
export function bindGroup(
  device: GPUDevice,
  pipe: GPUComputePipeline,
  buffers: GPUBuffer[],
): GPUBindGroup {
  return device.createBindGroup({
    layout: layoutOf(pipe),
    entries: buffers.map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
}

/** Dispatches over named buffers: what a kernel's tfjs wrapper records or a prebuilt forward binds once. */
export interface Plan {
  /** Temporaries the caller allocates (float32 shapes, by name). */
  temps: Record<string, number[]>;
  /** In order; each step's buffers are bound at bindings 0.. */
  steps: { launch: Launch; buffers: string[] }[];
}

/**
 * Records a plan into tfjs's pending command encoder: its temporaries
 * allocated, every step dispatched, the temporaries released.
 *
 * @param backend the WebGPU backend.
 * @param plan the plan.
 * @param named the tensors its buffer names refer to (inputs and outputs).
 */
export function runPlan(
  backend: Backend,
  plan: Plan,
  named: Record<string, tf.TensorInfo>,
): void {
  const all = { ...named };
  const temps = Object.entries(plan.temps).map(([name, shape]) =>
    all[name] = allocate(backend, shape)
  );
  for (const step of plan.steps) {
    dispatchLaunch(backend, step.launch, step.buffers.map((x) => all[x]));
  }
  for (const t of temps) release(backend, t);
}

/**
 * Records a described dispatch into tfjs's pending command encoder.
 *
 * @param backend the WebGPU backend.
 * @param launch the dispatch.
 * @param buffers tensors bound at bindings 0.. in the launch's order.
 */
export function dispatchLaunch(
  backend: Backend,
  launch: Launch,
  buffers: tf.TensorInfo[],
): void {
  const pipe = pipeline(backend.device, launch.key, launch.wgsl);
  dispatch(backend, pipe, buffers, launch.uniforms, launch.groups);
}

/**
 * Frees a temporary made with {@linkcode allocate} (deferred by tfjs until
 * the pending commands are submitted).
 *
 * @param backend the WebGPU backend.
 * @param t the temporary.
 */
export function release(backend: Backend, t: tf.TensorInfo): void {
  backend.disposeData(t.dataId, true);
}
