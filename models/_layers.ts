/**
 * Small stateless layers shared by the mixer, the backbone and the heads.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { matMulNT } from "../kernels/webgpu/matmul.ts";
import type { NormNode } from "../dsl/schema.ts";
import { webgpuNorm } from "../kernels/webgpu/norm.ts";

/** A linear layer's function: x (…, in), W (out, in), bias (out) → (…, out). */
export type Linear = (
  x: tf.Tensor,
  weight: tf.Tensor,
  bias?: tf.Tensor,
) => tf.Tensor;

/**
 * x · Wᵀ + bias for a torch-layout weight W (out, in).
 *
 * @param x (…, in)
 * @returns (…, out)
 */
export function linear(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  const lead = x.shape.slice(0, -1);
  const flat = x.reshape([-1, x.shape[x.shape.length - 1]]) as tf.Tensor2D; // (·, in)
  let y: tf.Tensor;
  if (tf.getBackend() === "webgpu") {
    y = matMulNT(flat, weight as tf.Tensor2D, {
      bias: bias as tf.Tensor1D | undefined,
    }); // (·, out), bias fused
  } else {
    y = matMulTransposed(flat, weight as tf.Tensor2D); // (·, out)
    if (bias) y = tf.add(y, bias);
  }
  return y.reshape([...lead, weight.shape[0]]);
}

/**
 * a · Wᵀ for W (out, in). On webgpu a register-tiled WGSL kernel that reads
 * W in its own layout (`kernels/webgpu/matmul.ts`: 4–5× tfjs's matMul on the
 * H200, whose `transposeB` path was a further 5–8× slower, BENCHMARKS.md);
 * elsewhere tfjs's `transposeB` matMul and its own gradient, as before.
 *
 * @param a (m, in)
 * @param weight (out, in)
 * @returns (m, out)
 */
export function matMulTransposed(
  a: tf.Tensor2D,
  weight: tf.Tensor2D,
): tf.Tensor2D {
  if (tf.getBackend() === "webgpu") return matMulNT(a, weight);
  return tf.matMul(a, weight, false, true);
}

/** SiLU(x) = x · sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Exact GELU: x · Φ(x) = ½ x (1 + erf(x / √2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/**
 * RMSNorm or LayerNorm over the last axis.
 *
 * On webgpu one fused WGSL dispatch (kernels/webgpu/norm.ts); elsewhere
 * tfjs ops.
 *
 * Reference: Hugging Face `MambaRMSNorm` (x · rsqrt(mean(x²) + eps) · w);
 * `torch.nn.LayerNorm`.
 *
 * @param x (…, d)
 * @returns (…, d)
 */
export function applyNorm(
  norm: NormNode,
  x: tf.Tensor,
  weight: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  if (tf.getBackend() === "webgpu") {
    return webgpuNorm({ x, weight, bias }, norm); // one fused dispatch
  }
  const axis = x.rank - 1;
  if (norm.kind === "rms_norm") {
    const meanSquare = tf.mean(tf.square(x), axis, true); // (…, 1)
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, norm.eps))), weight);
  }
  const { mean, variance } = tf.moments(x, axis, true); // (…, 1)
  const y = tf.mul(
    tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, norm.eps))),
    weight,
  );
  return bias ? tf.add(y, bias) : y;
}
