/**
 * Kernels that tfjs-backend-wasm 4.22 lacks and the model's backward pass
 * needs, written in JavaScript over the wasm heap and registered for the
 * "wasm" backend. Imported for its side effects by ./backend.ts.
 *
 * - `UnsortedSegmentSum`: the gradient of `tf.gather` (the embedding lookup)
 *   scatters the output gradient back to the table rows with it.
 * - `BatchMatMul` with `transposeA` or `transposeB`: present, but only the
 *   untransposed product takes the fast (XNNPACK) path; with either flag the
 *   C++ kernel runs a naive loop. Measured at (8192, 64)·(256, 64)ᵀ, the
 *   forward of a linear layer: 250 ms with the flag, ~15 ms without; the
 *   weight gradient xᵀ·dy was 10–60× slower likewise. Wrapped: the flagged
 *   operand is transposed first (the fast wasm `Transpose`), then the
 *   original kernel runs without flags.
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
  disposeData(dataId: unknown): void;
}

type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

/**
 * out[s, j] = Σ_{i: ids[i] = s} x[i, j], x viewed as (segmentIds.size, inner).
 *
 * @returns (numSegments, ...x.shape[segmentIds.rank:]), dtype of x.
 */
function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
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

const wasmMatMul = tf.getKernel(tf.BatchMatMul, "wasm");
const wasmTranspose = tf.getKernel(tf.Transpose, "wasm");
if (!wasmMatMul || !wasmTranspose) {
  throw new Error(
    "kernels/_wasm_kernels.ts: expected tfjs-backend-wasm's BatchMatMul and Transpose kernels to be registered (import @tensorflow/tfjs-backend-wasm first), received none",
  );
}

/** Swaps the last two axes with the wasm Transpose kernel. */
function transposeLast(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  const perm = x.shape.map((_, i) => i);
  const r = x.shape.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  const run = wasmTranspose!.kernelFunc as (a: KernelArgs) => tf.TensorInfo;
  return run({ inputs: { x }, backend, attrs: { perm } });
}

/** a·b with any transpose done first, then the fast untransposed kernel. */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const run = wasmMatMul!.kernelFunc as (a: KernelArgs) => tf.TensorInfo;
  const { transposeA, transposeB } = args.attrs ?? {};
  if (!transposeA && !transposeB) return run(args);
  const a = args.inputs.a as tf.TensorInfo; // (…, m, k) or (…, k, m)
  const b = args.inputs.b as tf.TensorInfo; // (…, k, n) or (…, n, k)
  const aN = transposeA ? transposeLast(a, args.backend) : a; // (…, m, k)
  const bN = transposeB ? transposeLast(b, args.backend) : b; // (…, k, n)
  const out = run({
    inputs: { a: aN, b: bN },
    backend: args.backend,
    attrs: { ...args.attrs, transposeA: false, transposeB: false },
  }); // (…, m, n)
  const backend = args.backend as WasmHeapBackend;
  if (aN !== a) backend.disposeData(aN.dataId);
  if (bN !== b) backend.disposeData(bN.dataId);
  return out;
}

tf.unregisterKernel(tf.BatchMatMul, "wasm");
tf.registerKernel({
  ...wasmMatMul,
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
});
