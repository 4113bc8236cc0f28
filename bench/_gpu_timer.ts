/**
 * GPU busy time from `timestamp-query`, for benchmarks (and
 * {@linkcode waitFor}, a wait without a full readback): while a timer is
 * running, every compute pass opened on any command encoder (tfjs's own and
 * raw dispatches alike) gets begin/end timestamps; `end()` resolves them and
 * returns the summed pass durations. Gaps between passes (CPU-bound idle
 * time) are not counted.
 *
 * It wraps `GPUCommandEncoder.prototype.beginComputePass`, so it sees passes
 * without any change to tfjs. Timestamps are read as nanoseconds (the
 * WebGPU spec's unit; wgpu converts from device ticks).
 *
 * Reference: WebGPU spec §20.4 (timestamp queries); tfjs-backend-webgpu 4.22
 * `backend_webgpu.ts` (which times only its own programs this way).
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";

/**
 * Waits until the GPU has computed `t` by reading back one element of it:
 * a whole readback (the 130m forward's logits are 412 MB at b·l = 2048)
 * would be most of what is timed.
 *
 * @param t a tensor on the webgpu backend.
 */
export async function waitFor(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => t.flatten().slice([0], [1]));
  await one.data();
  one.dispose();
}

/** A running/stopped GPU timer. */
export interface GpuTimer {
  /** Starts recording passes (clears earlier ones). */
  begin(): void;
  /**
   * Stops recording; call after the timed work was submitted and waited on.
   *
   * @returns summed GPU ms of the recorded passes, or null if more passes
   *   were opened than the query set holds.
   */
  end(): Promise<number | null>;
  /**
   * GPU ms from the first recorded pass's start to the last one's end at the
   * last `end()` (busy time plus the idle gaps between passes), or null.
   */
  span(): number | null;
  /** Compute passes recorded at the last `end()`. */
  passes(): number;
  /** GPU ms of each pass recorded at the last `end()`, in recording order. */
  durations(): number[];
  /** The labels of the pipelines each of those passes set, in order. */
  labels(): string[][];
}

const CAPACITY = 4096;

/**
 * @param device the device tfjs uses.
 * @returns a timer, or null when the device lacks `timestamp-query`.
 */
export function makeGpuTimer(device: GPUDevice): GpuTimer | null {
  if (!device.features.has("timestamp-query")) return null;
  const qs = device.createQuerySet({ type: "timestamp", count: CAPACITY });
  const resolve = device.createBuffer({
    size: CAPACITY * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    size: CAPACITY * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  let on = false;
  let used = 0;
  let lastSpan: number | null = null;
  let lastDurations: number[] = [];
  let passLabels: string[][] = [];
  // The label list of each timed pass (an untimed pass records none).
  const labelsOf = new WeakMap<GPUComputePassEncoder, string[]>();
  let overflow = false;
  const proto = GPUCommandEncoder.prototype;
  const orig = proto.beginComputePass;
  proto.beginComputePass = function (
    this: GPUCommandEncoder,
    desc?: GPUComputePassDescriptor,
  ) {
    if (on && !desc?.timestampWrites) {
      if (used + 2 <= CAPACITY) {
        desc = {
          ...(desc ?? {}),
          timestampWrites: {
            querySet: qs,
            beginningOfPassWriteIndex: used,
            endOfPassWriteIndex: used + 1,
          },
        };
        used += 2;
        const labels: string[] = [];
        passLabels.push(labels);
        const pass = orig.call(this, desc);
        labelsOf.set(pass, labels);
        return pass;
      }
      overflow = true;
    }
    return orig.call(this, desc);
  };
  const passProto = GPUComputePassEncoder.prototype;
  const setPipeline = passProto.setPipeline;
  passProto.setPipeline = function (
    this: GPUComputePassEncoder,
    p: GPUComputePipeline,
  ) {
    if (on) labelsOf.get(this)?.push(p.label || "?");
    return setPipeline.call(this, p);
  };
  return {
    begin() {
      on = true;
      used = 0;
      passLabels = [];
      overflow = false;
    },
    async end() {
      on = false;
      lastSpan = null;
      lastDurations = [];
      if (used === 0) return 0;
      const enc = device.createCommandEncoder();
      enc.resolveQuerySet(qs, 0, used, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, used * 8);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, used * 8);
      const t = new BigInt64Array(read.getMappedRange(0, used * 8).slice(0));
      read.unmap();
      let ns = 0n;
      let first = t[0], last = t[1];
      for (let i = 0; i < used; i += 2) {
        const d = t[i + 1] > t[i] ? t[i + 1] - t[i] : 0n;
        ns += d;
        lastDurations.push(Number(d) / 1e6);
        if (t[i] < first) first = t[i];
        if (t[i + 1] > last) last = t[i + 1];
      }
      lastSpan = overflow ? null : Number(last - first) / 1e6;
      return overflow ? null : Number(ns) / 1e6;
    },
    span: () => lastSpan,
    passes: () => lastDurations.length,
    durations: () => lastDurations,
    labels: () => passLabels,
  };
}
