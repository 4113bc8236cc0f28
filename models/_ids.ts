/**
 * Token-id validation at the model's boundary.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { TokenIds } from "./types.ts";

/**
 * Checks token ids and returns them as an int32 tensor (b, l).
 *
 * Arrays are checked element by element; tensors are checked for rank,
 * dtype and, on backends that can read synchronously, range.
 *
 * @param ids (b, l) ids.
 * @param vocab ids must lie in [0, vocab).
 * @param what prefix of error messages, e.g. "forward: ids".
 * @throws Error naming the offending element, the expected range and the value.
 */
export function toIdTensor(
  ids: TokenIds,
  vocab: number,
  what: string,
): tf.Tensor2D {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 2) {
      throw new Error(
        `${what}: expected a (batch, length) tensor, received shape [${ids.shape}]`,
      );
    }
    if (ids.shape[0] === 0 || ids.shape[1] === 0) {
      throw new Error(
        `${what}: expected at least one token, received shape [${ids.shape}]`,
      );
    }
    const asInt = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
    if (tf.getBackend() !== "webgpu") {
      const values = asInt.dataSync();
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v < 0 || v >= vocab) {
          const [row, col] = [Math.floor(i / ids.shape[1]), i % ids.shape[1]];
          throw new Error(
            `${what}[${row}][${col}]: expected a token id in [0, ${vocab}), received ${v}`,
          );
        }
      }
    }
    return asInt as tf.Tensor2D;
  }
  const flat = checkIdRows(ids, vocab, what);
  return tf.tensor2d(flat, [ids.length, flat.length / ids.length], "int32");
}

/**
 * Checks rows of token ids and flattens them.
 *
 * @param ids (b, l) ids as rows of equal length.
 * @param vocab ids must lie in [0, vocab).
 * @param what prefix of error messages, e.g. "forward: ids".
 * @returns the ids, row after row.
 * @throws Error naming the offending row or element, the expected value and
 *   what was received.
 */
export function checkIdRows(
  ids: number[][],
  vocab: number,
  what: string,
): Int32Array<ArrayBuffer> {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new Error(
      `${what}: expected a non-empty array of rows, received ${
        JSON.stringify(ids)?.slice(0, 40)
      }`,
    );
  }
  const length = Array.isArray(ids[0]) ? ids[0].length : -1;
  if (length <= 0) {
    throw new Error(`${what}[0]: expected a non-empty array of token ids`);
  }
  const flat = new Int32Array(ids.length * length);
  ids.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== length) {
      throw new Error(
        `${what}[${r}]: expected ${length} token ids (rows of equal length), received ${
          Array.isArray(row) ? row.length : typeof row
        }`,
      );
    }
    row.forEach((v, c) => {
      if (!Number.isInteger(v) || v < 0 || v >= vocab) {
        throw new Error(
          `${what}[${r}][${c}]: expected a token id in [0, ${vocab}), received ${v}`,
        );
      }
      flat[r * length + c] = v;
    });
  });
  return flat;
}
