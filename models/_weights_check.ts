/**
 * Private: checks on weight values read from a checkpoint. A NaN or an
 * infinity in any weight makes every logit NaN, silently; loading refuses
 * them by tensor name unless asked not to (`allowNonFinite`).
 *
 * @module
 */

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
