/**
 * Private: a sharded checkpoint's `model.safetensors.index.json`, checked.
 * `weight_map` must be an object of tensor name → shard file; every file a
 * plain relative path inside the model folder (no `..`, not absolute); and
 * the shards must hold exactly the tensors the index gives them — each
 * tensor in one shard, the one the index names. Every error names the index
 * file.
 *
 * Reference: transformers `modeling_utils.load_sharded_checkpoint` and
 * huggingface_hub `split_torch_state_dict_into_shards` (the index layout:
 * `{"metadata": {...}, "weight_map": {name: file}}`).
 *
 * @module
 */

/** The shards an index lists, and the shard of each tensor. */
export interface ShardIndex {
  /** Shard file names (relative to the model folder), in first-listed order. */
  shards: string[];
  /** Tensor name → shard file name. */
  weightMap: Map<string, string>;
}

/**
 * Checks a parsed index file.
 * @param index the parsed JSON object.
 * @param source the index file, for messages.
 * @returns the shard files and the tensor → shard map.
 * @throws Error naming the index file, the entry and what was expected.
 */
export function parseShardIndex(
  index: Record<string, unknown>,
  source: string,
): ShardIndex {
  const map = index.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new Error(
      `${source}: weight_map: expected an object of tensor name → shard file, received ${
        kind(map)
      }`,
    );
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    const at = `${source}: weight_map[${JSON.stringify(name)}]`;
    if (typeof file !== "string" || file === "") {
      throw new Error(
        `${at}: expected a shard file name, received ${kind(file)}`,
      );
    }
    if (!insideFolder(file)) {
      throw new Error(
        `${at}: expected a file inside the model folder (a relative path without ".."), received ${
          JSON.stringify(file)
        }`,
      );
    }
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) {
    throw new Error(
      `${source}: weight_map: expected at least one tensor, received an empty object`,
    );
  }
  return { shards: [...new Set(weightMap.values())], weightMap };
}

/**
 * Checks that a shard holds only tensors the index gives it, none seen in
 * an earlier shard; call once per shard, then {@linkcode checkAllFound}.
 * @param index the parsed index.
 * @param shard the shard's file name as the index lists it.
 * @param names the tensor names in the shard's header.
 * @param seen tensor name → the shard it was found in (updated).
 * @param source the index file, for messages.
 * @throws Error naming the index file, the tensor and both shards.
 */
export function checkShard(
  index: ShardIndex,
  shard: string,
  names: Iterable<string>,
  seen: Map<string, string>,
  source: string,
): void {
  for (const name of names) {
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new Error(
        `${source}: tensor ${
          JSON.stringify(name)
        }: expected in one shard, received it in two, ${
          JSON.stringify(earlier)
        } and ${JSON.stringify(shard)}`,
      );
    }
    const listed = index.weightMap.get(name);
    if (listed !== shard) {
      const where = listed === undefined
        ? "not listed in weight_map"
        : `listed in ${JSON.stringify(listed)}`;
      throw new Error(
        `${source}: tensor ${JSON.stringify(name)}: found in ${
          JSON.stringify(shard)
        }, ${where}`,
      );
    }
    seen.set(name, shard);
  }
}

/**
 * Checks that every tensor the index lists was found in its shard.
 * @param index the parsed index.
 * @param seen tensor name → shard, from {@linkcode checkShard}.
 * @param source the index file, for messages.
 * @throws Error naming the index file, the tensor and its shard.
 */
export function checkAllFound(
  index: ShardIndex,
  seen: Map<string, string>,
  source: string,
): void {
  for (const [name, shard] of index.weightMap) {
    if (!seen.has(name)) {
      throw new Error(
        `${source}: weight_map[${JSON.stringify(name)}]: expected ${
          JSON.stringify(shard)
        } to hold the tensor, it does not`,
      );
    }
  }
}

/**
 * A relative path that stays inside the folder, on disk and as a URL
 * relative to the folder's: no `..` segment (nor `%2e%2e`, which a URL
 * parser reads as `..`), no root, no drive or scheme (`:`), no empty
 * segment, no NUL.
 */
function insideFolder(file: string): boolean {
  if (file.includes(":") || file.includes("\0")) return false;
  return file.split(/[\\/]/).every((part) =>
    part !== "" && part.replace(/%2e/gi, ".") !== ".."
  );
}

/** A received value, short. */
function kind(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return JSON.stringify(v).slice(0, 80);
}
