/**
 * The two pieces of tfjs kernel registration every WGSL kernel module here
 * repeats: registering kernel functions for the "webgpu" backend, and
 * shaping a list of input gradients the way a tfjs `gradFunc` returns them.
 *
 * Reference: tfjs-core `kernel_registry.ts` (`registerKernel`,
 * `registerGradient`, `GradFunc`).
 *
 * @module
 */
import { tf } from "../backend.ts";

/**
 * Registers each kernel function under its name for the "webgpu" backend.
 *
 * @param kernels [kernelName, kernel function] pairs.
 */
export function registerWebGPUKernels(
  kernels: readonly (readonly [string, unknown])[],
): void {
  for (const [kernelName, fn] of kernels) {
    tf.registerKernel({
      kernelName,
      backendName: "webgpu",
      kernelFunc: fn as tf.KernelFunc,
    });
  }
}

/**
 * @param grads the gradients of a kernel's inputs, in input order.
 * @returns them as a tfjs gradFunc returns them: input i's under key "i".
 */
export function gradMap(grads: tf.Tensor[]): Record<string, () => tf.Tensor> {
  const map: Record<string, () => tf.Tensor> = {};
  grads.forEach((g, i) => map[String(i)] = () => g);
  return map;
}
