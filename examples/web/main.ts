/// <reference lib="dom" />
/**
 * The browser page: pick a model folder or name a Hub repository / folder
 * URL, type a prompt, watch tokens stream. Runs on WebGPU where the browser
 * has an adapter and on wasm otherwise (`?backend=wasm|webgpu|cpu` chooses).
 * Built by `deno task web` (examples/web/build.ts) into `dist/web/`.
 *
 * The model is parsed and built by the library (`models/_load_bytes.ts`,
 * the code behind `loadModel`) and decoded by its `DecodeEngine`.
 *
 * @module
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import {
  type BackendName,
  BACKENDS,
  setBackend,
  tf,
} from "../../kernels/backend.ts";
import type { ModelFiles } from "../../models/_load_bytes.ts";
import { DecodeEngine } from "../../infer/engine.ts";
import { checkPromptIds } from "../../infer/generate.ts";
import {
  type GenerateOptions,
  resolveGenerateOptions,
} from "../../infer/options.ts";
import {
  DEFAULT_ENDPOINT,
  loadPageModel,
  type PageModel,
  pickedFiles,
  promptIds,
  remoteFiles,
} from "./_load.ts";

const $ = <T extends HTMLElement>(id: string) =>
  document.getElementById(id) as T;

const ui = {
  backend: $<HTMLSpanElement>("backend"),
  backendChoice: $<HTMLSelectElement>("backend-choice"),
  folder: $<HTMLInputElement>("folder"),
  source: $<HTMLInputElement>("model-source"),
  endpoint: $<HTMLInputElement>("endpoint"),
  revision: $<HTMLInputElement>("revision"),
  load: $<HTMLButtonElement>("load"),
  modelStatus: $<HTMLParagraphElement>("model-status"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  maxNewTokens: $<HTMLInputElement>("max-new-tokens"),
  temperature: $<HTMLInputElement>("temperature"),
  topK: $<HTMLInputElement>("top-k"),
  seed: $<HTMLInputElement>("seed"),
  generate: $<HTMLButtonElement>("generate"),
  stop: $<HTMLButtonElement>("stop"),
  output: $<HTMLDivElement>("output"),
  genStatus: $<HTMLParagraphElement>("gen-status"),
  outputIds: $<HTMLParagraphElement>("output-ids"),
};

type State = "idle" | "busy" | "done" | "error";

function status(el: HTMLElement, state: State, text: string): void {
  el.dataset.state = state;
  el.textContent = text;
}

const errorText = (e: unknown) => e instanceof Error ? e.message : String(e);

let current: (PageModel & { engine: DecodeEngine }) | undefined;
let aborter: AbortController | undefined;

// ------------------------------------------------------------------ backend

const query = new URLSearchParams(location.search);

async function startBackend(): Promise<BackendName> {
  // The wasm binaries are served beside the page (the build copies them).
  setWasmPaths(new URL("./", location.href).href);
  const asked = query.get("backend") ?? "auto";
  ui.backendChoice.value = asked;
  const wanted = asked === "auto" || BACKENDS.includes(asked as BackendName)
    ? asked as BackendName | "auto"
    : "auto";
  const name = await setBackend(wanted);
  const why = wanted !== "auto"
    ? "chosen"
    : name === "webgpu"
    ? "this browser has WebGPU"
    : "no WebGPU adapter in this browser";
  ui.backend.textContent = `${name} (${why})`;
  ui.backend.dataset.backend = name;
  return name;
}

ui.backendChoice.addEventListener("change", () => {
  query.set("backend", ui.backendChoice.value);
  location.search = query.toString(); // tensors live on one backend: reload
});

// -------------------------------------------------------------------- model

const mb = (n: number) => (n / 1e6).toFixed(n < 1e7 ? 2 : 1);

async function load(files: () => ModelFiles): Promise<void> {
  ui.generate.disabled = true;
  ui.load.disabled = true;
  aborter?.abort();
  current?.model.dispose();
  current = undefined;
  const start = performance.now();
  try {
    const folder = files();
    status(ui.modelStatus, "busy", `Loading ${folder.where} …`);
    const loaded = await loadPageModel(folder);
    const r = loaded.model.resolved;
    let params = 0;
    for (const v of loaded.model.params.values()) params += v.size;
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    status(
      ui.modelStatus,
      "done",
      `${folder.where}: ${r.layers.length} layers, width ${r.dModel}, vocabulary ${r.vocab}, ${
        (params / 1e6).toFixed(params < 1e6 ? 3 : 1)
      } M parameters; ${
        loaded.tokenizer
          ? `${loaded.tokenizer.kind} tokenizer`
          : "no tokenizer (give ids)"
      }. Loaded in ${seconds} s on ${tf.getBackend()}.`,
    );
    if (!loaded.tokenizer && !/^\s*(ids:|\[)/.test(ui.prompt.value)) {
      ui.prompt.value = "ids: 1, 2, 3";
    }
    current = {
      ...loaded,
      engine: new DecodeEngine(loaded.model, {
        maxBatch: 1,
        tokenizer: loaded.tokenizer,
      }),
    };
    ui.generate.disabled = false;
  } catch (e) {
    status(ui.modelStatus, "error", errorText(e));
  } finally {
    ui.load.disabled = false;
  }
}

function onProgress(file: string, loaded: number, total: number): void {
  const of = total ? ` of ${mb(total)}` : "";
  status(ui.modelStatus, "busy", `Downloading ${file}: ${mb(loaded)}${of} MB`);
}

ui.folder.addEventListener("change", () => {
  const picked = [...(ui.folder.files ?? [])];
  if (picked.length > 0) load(() => pickedFiles(picked));
});

ui.load.addEventListener(
  "click",
  () =>
    load(() =>
      remoteFiles(ui.source.value, {
        endpoint: ui.endpoint.value,
        revision: ui.revision.value,
        onProgress,
      })
    ),
);

// --------------------------------------------------------------- generation

function numberField(input: HTMLInputElement, name: string): number | null {
  if (input.value.trim() === "") return null;
  const n = Number(input.value);
  if (!Number.isFinite(n)) {
    throw new Error(`${name}: expected a number, received "${input.value}"`);
  }
  return n;
}

function options(): GenerateOptions {
  const maxNewTokens = numberField(ui.maxNewTokens, "new tokens") ?? 32;
  const temperature = numberField(ui.temperature, "temperature") ?? 0;
  const topK = numberField(ui.topK, "top-k") ?? 0;
  const seed = numberField(ui.seed, "seed");
  return {
    maxNewTokens,
    stopTokenIds: current?.stopTokenIds ?? [],
    ...(temperature > 0
      ? { temperature, ...(topK > 0 ? { topK } : {}) }
      : { greedy: true }),
    ...(seed === null ? {} : { seed }),
  };
}

async function run(): Promise<void> {
  if (!current) return;
  const { engine, model, tokenizer } = current;
  ui.output.textContent = "";
  ui.outputIds.textContent = "";
  delete ui.outputIds.dataset.ids;
  let resolved;
  let prompt: number[];
  try {
    prompt = promptIds(ui.prompt.value, tokenizer);
    checkPromptIds(prompt, model.resolved.vocab, "prompt");
    resolved = resolveGenerateOptions(options());
  } catch (e) {
    status(ui.genStatus, "error", errorText(e));
    return;
  }
  const shown = document.createElement("span");
  shown.className = "prompt";
  shown.textContent = tokenizer
    ? tokenizer.decode(prompt)
    : `ids: ${prompt.join(", ")} →`;
  const streamed = document.createElement("span");
  ui.output.append(shown, streamed);
  const ids: number[] = [];
  aborter = new AbortController();
  ui.generate.disabled = true;
  ui.stop.disabled = false;
  status(ui.genStatus, "busy", "Generating …");
  try {
    const result = await engine.submit(prompt, resolved, {
      signal: aborter.signal,
      onToken: (event) => {
        ids.push(event.token);
        streamed.textContent += tokenizer
          ? event.text ?? ""
          : ` ${event.token}`;
        ui.outputIds.textContent = ids.join(", ");
      },
    });
    if (result.text !== undefined) streamed.textContent = result.text;
    ui.outputIds.textContent = result.outputIds.join(", ");
    ui.outputIds.dataset.ids = JSON.stringify(result.outputIds);
    const { firstTokenMs, totalMs } = result.timings;
    const n = result.outputIds.length;
    const perSecond = n > 1 && totalMs > firstTokenMs
      ? ((n - 1) / ((totalMs - firstTokenMs) / 1000)).toFixed(1)
      : "–";
    status(
      ui.genStatus,
      "done",
      `${n} tokens (${result.finishReason}), ${
        resolved.sampling.greedy ? "greedy" : `sampled, seed ${result.seed}`
      }; first token after ${
        firstTokenMs.toFixed(0)
      } ms, then ${perSecond} tokens/s on ${tf.getBackend()}.`,
    );
  } catch (e) {
    status(ui.genStatus, "error", errorText(e));
  } finally {
    ui.generate.disabled = false;
    ui.stop.disabled = true;
  }
}

ui.generate.addEventListener("click", run);
ui.stop.addEventListener("click", () => aborter?.abort());

// -------------------------------------------------------------------- start

ui.source.value = query.get("model") ?? "";
ui.endpoint.value = query.get("endpoint") ?? DEFAULT_ENDPOINT;
ui.revision.value = query.get("revision") ?? "main";
try {
  await startBackend();
  document.body.dataset.ready = "true";
  if (ui.source.value) ui.load.click();
} catch (e) {
  ui.backend.textContent = `none: ${errorText(e)}`;
  status(ui.modelStatus, "error", errorText(e));
}
