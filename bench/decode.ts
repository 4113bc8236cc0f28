/**
 * Greedy decode throughput: the recurrent step (prefill once, then O(1) per
 * token, through `generate`'s engine, one logits readback per token) against
 * re-running the whole prefix with the parallel forward for every token; time
 * to first token for a long prompt; on webgpu, the cost of one GPU→CPU
 * readback. Prints a table and writes JSON.
 *
 *     deno run -A bench/decode.ts [--backend auto|webgpu|wasm|cpu]
 *       [--models long,130m] [--tokens 1024] [--batch 1,8]
 *       [--prefix-tokens 64] [--ttft-prompt 512] [--ttft-repeats 3]
 *       [--out decode.json]
 *       [--step-tokens 1024] [--round-tokens 32,64] [--profile]
 *       [--kernels narrow,wide] (GPU decoder launch shapes; default wide)
 *       [--submit-batch N] (tfjs-webgpu submits every N dispatches)
 *
 * "recurrent step" is the tfjs step with one logits readback per token
 * (`--step-tokens` tokens); on webgpu, "GPU rounds" is the GPU-resident
 * decoder (`infer/gpu_decoder.ts`), once per `--round-tokens` value and
 * per `--kernels` launch shape (default wide, the decoder's default on a
 * hardware adapter).
 *
 * Models: `long` is the tests/fixtures/hf-mamba/long checkpoint (3 layers,
 * d 64, vocab 512); `130m` is `examples/mamba_130m.ts` (24 layers, d 768,
 * vocab 50280, d_state 16, float32) with random weights (seed 0).
 * On the GPU machine: `bash ../shared/gpu/prepare.sh bench/decode.ts`, then
 * `source .gpu/env.sh && deno run -A .gpu/decode.js --backend webgpu`.
 *
 * Reference: state-spaces/mamba `benchmarks/benchmark_generation_mamba_simple.py`
 * (greedy decode tokens/s at batch 1 and 8).
 *
 * @module
 */
import parser from "yargs-parser";
import {
  type BackendName,
  setBackend,
  SUBMIT_BATCH,
  tf,
} from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { buildModel } from "../models/model.ts";
import type { MambaModel } from "../models/types.ts";
import { generate } from "../infer/generate.ts";
import { type DecodeKernels, GpuDecoder } from "../infer/gpu_decoder.ts";
import { resolveGenerateOptions } from "../infer/options.ts";
import mamba130m from "../examples/mamba_130m.ts";

/** One measured row. */
interface Row {
  model: string;
  mode:
    | "recurrent step"
    | "GPU rounds"
    | "re-run prefix"
    | "time to first token"
    | "time to first token (prebuilt prefill)"
    | "time to first token (tfjs prefill)";
  batch: number;
  tokens: number;
  ms: number;
  tokensPerS: number;
}

async function makeModel(name: string): Promise<MambaModel> {
  if (name === "long") {
    return await loadModel(
      new URL("../tests/fixtures/hf-mamba/long", import.meta.url).pathname,
    );
  }
  if (name === "130m") {
    return buildModel(mamba130m, { seed: 0 });
  }
  throw new Error(`--models: expected long or 130m, received ${name}`);
}

const prompts = (batch: number, length: number, vocab: number) =>
  Array.from(
    { length: batch },
    (_, b) => Array.from({ length }, (_, t) => (b * 7919 + t * 104729) % vocab),
  );

/** Greedy decode with the recurrent step; tokens/s excludes the prefill. */
async function recurrent(
  model: MambaModel,
  batch: number,
  tokens: number,
  gpu: {
    gpuDecode: boolean;
    roundTokens?: number;
    gpuKernels?: DecodeKernels;
  } = { gpuDecode: false },
): Promise<{ ms: number; tokensPerS: number }> {
  const results = await generate(
    model,
    prompts(batch, 8, model.resolved.vocab),
    { maxNewTokens: tokens, ...gpu },
  );
  // Every row is admitted (prefilled, first token read back) before the
  // first decode step, and all were submitted together: decoding runs from
  // the last first token to the last end.
  const decodeMs = Math.max(...results.map((r) => r.timings.totalMs)) -
    Math.max(...results.map((r) => r.timings.firstTokenMs));
  return {
    ms: decodeMs,
    tokensPerS: (batch * (tokens - 1)) / (decodeMs / 1000),
  };
}

/** Greedy decode re-running the parallel forward on the whole prefix. */
async function rerunPrefix(
  model: MambaModel,
  tokens: number,
): Promise<{ ms: number; tokensPerS: number }> {
  const seq = prompts(1, 8, model.resolved.vocab)[0];
  const start = performance.now();
  for (let i = 0; i < tokens; i++) {
    const logits = model.forward([seq]) as tf.Tensor3D; // (1, l, v)
    const last = logits.slice([0, seq.length - 1, 0], [1, 1, -1]).argMax(-1);
    seq.push((await last.data())[0]);
    tf.dispose([logits, last]);
  }
  const ms = performance.now() - start;
  return { ms, tokensPerS: tokens / (ms / 1000) };
}

/** Milliseconds of one small GPU→CPU readback (median of `n`). */
async function readbackMs(n = 30): Promise<number> {
  const times: number[] = [];
  // Above WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD (1000), so the add runs on the GPU.
  let x = tf.zeros([4096]);
  for (let i = 0; i < n; i++) {
    const y = x.add(1);
    x.dispose();
    x = y;
    const start = performance.now();
    await x.data();
    times.push(performance.now() - start);
  }
  x.dispose();
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

if (import.meta.main) {
  const a = parser(Deno.args, {
    string: ["backend", "models", "batch", "out", "kernels"],
    configuration: { "camel-case-expansion": false },
  });
  // --submit-batch N: tfjs-webgpu submits every N dispatches instead of the
  // project's per-adapter choice (kernels/backend.ts); set before the backend
  // starts so that choice leaves it alone.
  if (a["submit-batch"] !== undefined) {
    tf.env().set(
      SUBMIT_BATCH,
      Number(a["submit-batch"]),
    );
  }
  const backend = await setBackend((a.backend ?? "auto") as BackendName);
  const names = String(a.models ?? "long,130m").split(",");
  const batches = String(a.batch ?? "1,8").split(",").map(Number);
  const tokens = Number(a.tokens ?? 1024);
  const prefixTokens = Number(a["prefix-tokens"] ?? 64);
  const ttftPrompt = Number(a["ttft-prompt"] ?? 512);
  const ttftRepeats = Number(a["ttft-repeats"] ?? 3);
  const stepTokens = Number(a["step-tokens"] ?? tokens);
  const roundTokens = String(a["round-tokens"] ?? "32").split(",").map(Number);
  const kernelSets = String(a.kernels ?? "wide").split(",") as DecodeKernels[];
  const out = a.out ?? `decode-${backend}.json`;
  const rows: Row[] = [];
  const profiles: unknown[] = [];
  const push = (r: Row & { roundTokens?: number; kernels?: DecodeKernels }) => {
    rows.push(r);
    save();
    console.log(
      `${r.model.padEnd(6)} ${
        (r.mode + (r.kernels ? ` ${r.kernels}` : "")).padEnd(20)
      } b=${String(r.batch).padEnd(3)} ${String(r.tokens).padStart(5)} tok ${
        r.ms.toFixed(1).padStart(10)
      } ms ${r.tokensPerS.toFixed(1).padStart(9)} tok/s`,
    );
  };
  console.log(`backend ${backend}, ${new Date().toISOString()}`);
  const readback = backend === "webgpu" ? await readbackMs() : null;
  // Written after every row, so a run cut short keeps what it measured.
  const save = () =>
    Deno.writeTextFileSync(
      out,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          backend,
          deno: Deno.version.deno,
          command: `deno run -A bench/decode.ts ${Deno.args.join(" ")}`,
          readbackMs: readback,
          rows,
          profiles,
        },
        null,
        2,
      ),
    );
  if (readback !== null) {
    console.log(`one GPU→CPU readback: ${readback.toFixed(2)} ms (median)`);
  }
  for (const name of names) {
    const model = await makeModel(name);
    await recurrent(model, 1, 4); // warm-up: pipelines, kernels
    if (backend === "webgpu") {
      for (const gpuKernels of kernelSets) {
        for (const round of roundTokens) {
          const gpu = { gpuDecode: true, roundTokens: round, gpuKernels };
          await recurrent(model, 1, 4, gpu);
          for (const batch of batches) {
            push({
              model: name,
              mode: "GPU rounds",
              roundTokens: round,
              kernels: gpuKernels,
              batch,
              tokens,
              ...await recurrent(model, batch, tokens, gpu),
            });
          }
        }
      }
    }
    for (const batch of stepTokens > 1 ? batches : []) {
      push({
        model: name,
        mode: "recurrent step",
        batch,
        tokens: stepTokens,
        ...await recurrent(model, batch, stepTokens),
      });
    }
    for (const kernels of backend === "webgpu" && a.profile ? kernelSets : []) {
      for (const batch of batches) {
        const decoder = new GpuDecoder(model, {
          kernels,
          maxBatch: batch <= 8 ? 8 : 32,
        });
        const { state } = model.prefill([
          prompts(1, 8, model.resolved.vocab)[0],
        ]);
        for (let i = 0; i < batch; i++) {
          decoder.admit({
            state,
            token: 1,
            rngState: 0,
            seen: [],
            sampling: resolveGenerateOptions({}).sampling,
          });
        }
        state.layers.forEach((s) => tf.dispose([s.conv, s.ssm]));
        const rows = await decoder.profile();
        console.log(
          `GPU decode step profile, ${name}, ${kernels} kernels, batch ${batch}:`,
        );
        for (const r of rows) {
          console.log(
            `  ${r.label.padEnd(28)} ×${String(r.count).padStart(3)} ${
              r.ms.toFixed(3).padStart(8)
            } ms`,
          );
        }
        profiles.push({ model: name, kernels, batch, rows });
        save();
        decoder.dispose();
      }
    }
    if (prefixTokens > 0) {
      push({
        model: name,
        mode: "re-run prefix",
        batch: 1,
        tokens: prefixTokens,
        ...await rerunPrefix(model, prefixTokens),
      });
    }
    // Time to first token, each time through a fresh engine (generate), so
    // it includes building the GPU decoder; on webgpu side by side with the
    // prompt prefilled by a prebuilt forward and by tfjs ops, alternating.
    const prefillPaths = backend === "webgpu" ? [true, false] : [true];
    for (let rep = 0; ttftPrompt > 0 && rep < ttftRepeats; rep++) {
      for (const gpuPrefill of prefillPaths) {
        const [r] = await generate(
          model,
          prompts(1, ttftPrompt, model.resolved.vocab),
          { maxNewTokens: 1, gpuPrefill },
        );
        push({
          model: name,
          mode: `time to first token${
            backend === "webgpu"
              ? gpuPrefill ? " (prebuilt prefill)" : " (tfjs prefill)"
              : ""
          }`,
          batch: 1,
          tokens: ttftPrompt,
          ms: r.timings.firstTokenMs,
          tokensPerS: ttftPrompt / (r.timings.firstTokenMs / 1000),
        });
      }
    }
    model.dispose();
  }
  console.log(`wrote ${out}`);
}
