/**
 * Hugging Face Hub datasets as Parquet, downloaded when the network allows
 * (e.g. the article's `ajaykarthick/imdb-movie-reviews`), cached on disk.
 *
 * Reference: the Hub's dataset-viewer `/api/datasets/{repo}/parquet` endpoint.
 *
 * @module
 */

/** Where and how to download. */
export interface HubOptions {
  /** Cache folder (default `~/.cache/mamba-ts/datasets`). */
  cacheDir?: string;
  /** Hub address (default `https://huggingface.co`). */
  endpoint?: string;
  /** Fetch implementation (tests pass a fake one). */
  fetch?: typeof fetch;
}

function defaultCache(): string {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return `${home}/.cache/mamba-ts/datasets`;
}

/**
 * Downloads every Parquet shard of a Hub dataset, by split.
 * @param repo `owner/name` of the dataset.
 * @param options cache folder, endpoint, fetch.
 * @returns split name → local Parquet paths (already cached files are reused).
 * @throws Error naming the URL when the Hub cannot be reached.
 */
export async function downloadHubDataset(
  repo: string,
  options: HubOptions = {},
): Promise<Record<string, string[]>> {
  const endpoint = options.endpoint ?? "https://huggingface.co";
  const get = options.fetch ?? fetch;
  const dir = `${options.cacheDir ?? defaultCache()}/${
    repo.replace("/", "__")
  }`;
  const listUrl = `${endpoint}/api/datasets/${repo}/parquet`;
  const manifest = `${dir}/manifest.json`;
  let listing: Record<string, Record<string, string[]>>;
  try {
    const res = await get(listUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    listing = await res.json();
  } catch (err) {
    try {
      listing = JSON.parse(await Deno.readTextFile(manifest));
    } catch {
      throw new Error(
        `${listUrl}: cannot list the dataset's Parquet files (${
          (err as Error).message
        }); download it when online or pass a local file with --data`,
      );
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(manifest, JSON.stringify(listing));
  const out: Record<string, string[]> = {};
  for (const [config, splits] of Object.entries(listing)) {
    for (const [split, urls] of Object.entries(splits)) {
      for (const [i, url] of urls.entries()) {
        const path = `${dir}/${config}-${split}-${i}.parquet`;
        try {
          await Deno.stat(path);
        } catch {
          const res = await get(url);
          if (!res.ok) {
            throw new Error(`${url}: download failed: HTTP ${res.status}`);
          }
          const tmp = `${path}.${crypto.randomUUID()}.tmp`;
          await Deno.writeFile(tmp, new Uint8Array(await res.arrayBuffer()));
          await Deno.rename(tmp, path);
        }
        (out[split] ??= []).push(path);
      }
    }
  }
  return out;
}
