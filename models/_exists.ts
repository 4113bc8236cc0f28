/**
 * Private: whether a path can be stat'ed.
 *
 * @module
 */

/**
 * @param path a file or folder.
 * @returns whether it exists (false also when it cannot be stat'ed).
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
