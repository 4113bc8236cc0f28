/**
 * Folders replaced atomically, so that a `kill -9` at any instant leaves
 * either the old or the new folder, never a half-written one, and the next
 * run can finish or undo what the killed one started.
 *
 * Protocol for a folder `<parent>/<name>`:
 * 1. write everything into `.<name>.tmp` (removed first if a killed run left
 *    one), fsync every file and the folder;
 * 2. rename `.<name>.tmp` → `.<name>.new`: the new folder is now complete;
 * 3. remove a stale `.<name>.old`, rename `<name>` → `.<name>.old`,
 *    rename `.<name>.new` → `<name>`, fsync the parent;
 * 4. remove `.<name>.old`.
 *
 * {@linkcode recoverDir} rolls a killed replacement forward: a `.new` folder
 * (complete by step 2) is committed, a `.tmp` one (maybe partial) is removed,
 * an `.old` one is removed once `<name>` exists. Folders left by the earlier
 * protocol (`.<name>.<id>.tmp` / `.<name>.<id>.old`) are recovered too.
 *
 * For tests, `MAMBA_TRAIN_KILL_AT=<n>` makes the process `SIGKILL` itself
 * just before its n-th step of this protocol (see {@linkcode killPoint}).
 *
 * Reference: the write-temp, fsync, rename pattern of SQLite's rollback
 * journal and of git's lock files.
 *
 * @module
 */

let killAt = 0;
try {
  killAt = Number(Deno.env.get("MAMBA_TRAIN_KILL_AT") ?? 0) || 0;
} catch {
  // No env permission: the hook stays off.
}
let points = 0;

/**
 * A point where a test may kill the process: the n-th call (counted over the
 * process) sends SIGKILL to itself when `MAMBA_TRAIN_KILL_AT=n`.
 */
export function killPoint(): void {
  if (killAt > 0 && ++points === killAt) Deno.kill(Deno.pid, "SIGKILL");
}

/** Names of the side folders of `<parent>/<name>`. */
function sides(dir: string) {
  const slash = dir.lastIndexOf("/");
  const parent = slash < 0 ? "." : dir.slice(0, slash);
  const name = dir.slice(slash + 1);
  return {
    parent,
    name,
    tmp: `${parent}/.${name}.tmp`,
    ready: `${parent}/.${name}.new`,
    old: `${parent}/.${name}.old`,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

async function syncPath(path: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return; // Windows cannot open a folder; the rename order still holds.
  }
  try {
    await f.sync();
  } catch {
    // Some file systems cannot fsync a folder; the rename order still holds.
  } finally {
    f.close();
  }
}

/** fsyncs every file of a folder (recursively) and the folder itself. */
async function syncTree(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await syncTree(path);
    else if (entry.isFile) await syncPath(path);
  }
  await syncPath(dir);
}

/** Steps 3 and 4: puts the complete `.new` folder in place. */
async function commit(dir: string): Promise<void> {
  const { parent, ready, old } = sides(dir);
  killPoint();
  await removeIfThere(old);
  killPoint();
  if (await exists(dir)) await Deno.rename(dir, old);
  killPoint();
  await Deno.rename(ready, dir);
  await syncPath(parent);
  killPoint();
  await removeIfThere(old);
}

/**
 * Replaces (or creates) a folder atomically with what `write` puts in a
 * temporary folder.
 * @param dir the folder, e.g. `out/checkpoints/last`.
 * @param write fills the temporary folder it is given.
 */
export async function writeDirAtomic(
  dir: string,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const { parent, tmp, ready } = sides(dir);
  await Deno.mkdir(parent, { recursive: true });
  killPoint();
  await removeIfThere(tmp);
  await removeIfThere(ready);
  await Deno.mkdir(tmp);
  try {
    await write(tmp);
    killPoint();
    await syncTree(tmp);
  } catch (err) {
    await removeIfThere(tmp).catch(() => {});
    throw err;
  }
  killPoint();
  await Deno.rename(tmp, ready);
  await syncPath(parent);
  await commit(dir);
}

/**
 * Finishes or undoes a replacement that a killed process left half done, and
 * removes leftover temporary folders.
 * @param dir the folder, e.g. `out/checkpoints/last`.
 * @param complete tells whether a folder left by the earlier protocol is
 *   whole (used only when `dir` itself is missing).
 * @returns whether `dir` exists afterwards.
 */
export async function recoverDir(
  dir: string,
  complete: (path: string) => Promise<boolean>,
): Promise<boolean> {
  const { parent, name, tmp, ready, old } = sides(dir);
  if (!(await exists(parent))) return false;
  if (await exists(ready)) await commit(dir);
  await removeIfThere(tmp);
  if (!(await exists(dir)) && (await exists(old)) && await complete(old)) {
    await Deno.rename(old, dir);
  }
  // The earlier protocol's `.<name>.<id>.tmp` (complete once `<name>` had been
  // moved aside) and `.<name>.<id>.old` (the previous, complete folder).
  const legacy: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (
      entry.isDirectory && entry.name.startsWith(`.${name}.`) &&
      /^\.[^/]+\.[0-9a-f]{8}\.(tmp|old)$/.test(entry.name)
    ) legacy.push(`${parent}/${entry.name}`);
  }
  const rank = (path: string) => path.endsWith(".tmp") ? 0 : 1; // newer first
  legacy.sort((a, b) => rank(a) - rank(b));
  for (const path of legacy) {
    if (!(await exists(dir)) && await complete(path)) {
      await Deno.rename(path, dir);
    } else await removeIfThere(path);
  }
  await removeIfThere(old);
  return await exists(dir);
}
