/**
 * Private: checks on the weights read from a checkpoint. A NaN or an
 * infinity in any weight makes every logit NaN, silently; loading refuses
 * them by tensor name unless asked not to (`allowNonFinite`). A weight file
 * larger than the architecture's parameters can fill is refused before it
 * is read.
 *
 * @module
 */
import { MAX_HEADER_BYTES } from "./_safetensors_header.ts";

/**
 * Refuses a tensor with a NaN or infinite element.
 * @param data the decoded values.
 * @param file the file it came from, for messages.
 * @param name the tensor's name in the file.
 * @throws Error naming the file, the tensor, how many elements are not
 *   finite and the first of them.
 */
export function checkFinite(
  data: Float32Array,
  file: string,
  name: string,
): void {
  let first = -1;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for finite v, NaN for NaN and ±Infinity.
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count === 0) return;
  throw new Error(
    `${file}: tensor ${JSON.stringify(name)}: expected finite weights, ` +
      `received ${count} of ${data.length} elements NaN or infinite ` +
      `(the first, element ${first}, is ${data[first]}); ` +
      `loadModel's option allowNonFinite: true loads them anyway`,
  );
}

/**
 * The most bytes a model's weight files may take: twice its parameters in
 * float32 (a tied checkpoint may also hold `lm_head.weight`), plus the
 * largest header. A bigger file is refused before it is read, so a folder
 * whose weights do not fit its own config cannot exhaust memory.
 * @param parameters the architecture's parameter count.
 * @returns the byte budget.
 */
export function weightBytesBudget(parameters: number): number {
  return 2 * 4 * parameters + 8 + MAX_HEADER_BYTES;
}

/**
 * Refuses a weight file larger than what is left of the byte budget.
 * @param size the file's size in bytes.
 * @param left bytes left of {@linkcode weightBytesBudget} (earlier shards
 *   subtracted).
 * @param parameters the architecture's parameter count, for the message.
 * @param file the file, for messages.
 * @throws Error naming the file, its size and the budget.
 */
export function checkWeightFileSize(
  size: number,
  left: number,
  parameters: number,
  file: string,
): void {
  if (size <= left) return;
  throw new Error(
    `${file}: expected at most ${count(left)} bytes (the weights of ` +
      `${count(parameters)} parameters, as the architecture has, at most ` +
      `twice over in float32, with their headers), received a file of ` +
      `${count(size)} bytes`,
  );
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}
