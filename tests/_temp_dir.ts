/**
 * Private test helper: temporary folders removed when the test module ends,
 * whether its tests pass or fail.
 *
 * @module
 */

/**
 * Makes a temporary folder that is removed when the test module unloads.
 *
 * @param prefix the folder name's prefix
 * @returns the folder's path
 */
export async function tempDirForModule(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already removed */ }
  });
  return dir;
}
