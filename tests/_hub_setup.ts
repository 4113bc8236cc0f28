/**
 * Private test helper of the Hub tests: the tiny fixture as a repository of a
 * fresh fake Hub with a fresh cache, environment handling, logits.
 *
 * @module
 */
import { loadModel } from "../models/io.ts";
import type { HubOptions } from "../models/hub.ts";
import { join } from "node:path";
import { FakeHub } from "./_fake_hub.ts";
import { fixtureDir } from "./_infer_fixtures.ts";
import { tempDirForModule } from "./_temp_dir.ts";

/** The tiny fixture folder. */
export const TINY = fixtureDir("tiny");
/** The repository the fake Hub serves it as. */
export const REPO = "test-org/tiny-mamba";
/** Test options: tfjs and the server keep resources between tests. */
export const opts = { sanitizeOps: false, sanitizeResources: false };
/** UTF-8 bytes of a string. */
export const text = (s: string) => new TextEncoder().encode(s);

/** The tiny fixture as a Hub repository, with a byte-level tokenizer config. */
export async function tinyFiles(): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    "tokenizer_config.json": text(
      JSON.stringify({
        tokenizer_class: "ByteLevelTokenizer",
        vocab_size: 256,
      }),
    ),
  };
  for (
    const f of ["config.json", "model.safetensors", "generation_config.json"]
  ) {
    files[f] = await Deno.readFile(join(TINY, f));
  }
  return files;
}

/**
 * A fresh fake Hub holding REPO, a fresh cache folder (removed when the test
 * module ends), and options for both.
 */
export async function setup(): Promise<
  { hub: FakeHub; commit: string; cache: string; o: HubOptions }
> {
  const hub = new FakeHub();
  const commit = hub.push(REPO, await tinyFiles());
  const cache = await tempDirForModule("hub-cache-");
  return {
    hub,
    commit,
    cache,
    // offline: false, so that an HF_HUB_OFFLINE of the machine changes nothing.
    o: { endpoint: hub.url, cacheDir: cache, progress: false, offline: false },
  };
}

/** Runs `fn` with a fresh {@link setup}, then closes the fake Hub. */
export async function withHub<T>(
  fn: (s: Awaited<ReturnType<typeof setup>>) => Promise<T>,
): Promise<T> {
  const s = await setup();
  try {
    return await fn(s);
  } finally {
    await s.hub.close();
  }
}

/** Runs `fn` with environment variables set (undefined: deleted), then restores them. */
export async function withEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(
    Object.keys(vars).map((k) => [k, Deno.env.get(k)]),
  );
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) Deno.env.delete(k);
      else Deno.env.set(k, x);
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

const HUB_VARS = [
  "HF_ENDPOINT",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
  "HF_TOKEN",
  "HUGGING_FACE_HUB_TOKEN",
  "HF_TOKEN_PATH",
  "HF_HUB_OFFLINE",
];
/** Environment for a test: every Hub variable cleared, then `vars`. */
export const hubEnv = (vars: Record<string, string | undefined>) => ({
  ...Object.fromEntries(HUB_VARS.map((k) => [k, undefined])),
  HF_TOKEN_PATH: "/nonexistent/hf-token", // not a login token of the machine
  HF_HUB_DISABLE_PROGRESS_BARS: "1",
  ...vars,
});

/** Logits of a model loaded from `source` for a fixed batch of ids. */
export async function logitsOf(source: string): Promise<Float32Array> {
  const model = await loadModel(source);
  const out = model.forward([[1, 5, 9, 200, 3, 77]]);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  model.dispose();
  return data;
}

/** Sorted names in a folder. */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names.sort();
}
