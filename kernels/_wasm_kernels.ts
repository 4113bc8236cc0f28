/**
 * Kernels that tfjs-backend-wasm 4.22 lacks and the model's backward pass
 * needs, written in JavaScript over the wasm heap and registered for the
 * "wasm" backend. Imported for its side effects by ./backend.ts.
 *
 * - `UnsortedSegmentSum`: the gradient of `tf.gather` (the embedding lookup)
 *   scatters the output gradient back to the table rows with it.
 *
 * Every other kernel the gradient of the models in examples/ reaches exists
 * in tfjs-backend-wasm (checked by running `tf.grads` of their losses on wasm:
 * ./_wasm_kernels_test.ts).
 *
 * Reference: tfjs-backend-cpu `kernels/UnsortedSegmentSum.ts` (semantics:
 * ids outside [0, numSegments) are dropped); tfjs-core
 * `gradients/GatherV2_grad.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The part of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

/**
 * out[s, j] = Σ_{i: ids[i] = s} x[i, j], x viewed as (segmentIds.size, inner).
 *
 * @returns (numSegments, ...x.shape[segmentIds.rank:]), dtype of x.
 */
function unsortedSegmentSum(
  args: {
    inputs: tf.NamedTensorInfoMap;
    backend: unknown;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo; // (…ids, …inner)
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo; // (…ids)
  const numSegments = Number(args.attrs?.numSegments);
  const backend = args.backend as WasmHeapBackend;
  if (x.dtype !== "float32" && x.dtype !== "int32") {
    throw new Error(
      `UnsortedSegmentSum (wasm): x: expected dtype float32 or int32, received ${x.dtype}`,
    );
  }
  const rows = segmentIds.shape.reduce((a, s) => a * s, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce(
    (a, s) => a * s,
    1,
  );
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  // Allocate first: views taken after it stay valid (no further heap growth).
  const out = backend.makeOutput(outShape, x.dtype);
  const values = backend.typedArrayFromHeap(x); // (rows, inner)
  const ids = backend.typedArrayFromHeap(segmentIds); // (rows)
  const sums = backend.typedArrayFromHeap(out); // (numSegments, inner)
  sums.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) sums[dst + j] += values[src + j];
  }
  return out;
}

tf.registerKernel({
  kernelName: tf.UnsortedSegmentSum,
  backendName: "wasm",
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
});
