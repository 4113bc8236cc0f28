/**
 * `deno task serve` as a real process on 127.0.0.1: per-request limits set
 * by flags answer 413 naming the limit; SIGTERM drains for at most
 * `--drain-timeout` seconds; a second signal exits at once.
 */
import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import {
  architecture,
  classifier,
  embedding,
  mamba,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { saveModel } from "../models/io.ts";
import { tempDirForModule } from "./_temp_dir.ts";

await setBackend("cpu");

const SEQ_LEN = 64;
const dir = await tempDirForModule("mamba-serve-cli-");
{
  const model = buildModel(
    architecture({
      name: "clf",
      seqLen: SEQ_LEN,
      nodes: [
        embedding({ vocab: 32, dim: 16 }),
        residual({ mixer: mamba({ dState: 4 }) }),
        rmsNorm(),
        classifier({ pooling: "mean", classes: 2, activation: "softmax" }),
      ],
    }),
    { seed: 1 },
  );
  await saveModel(model, dir);
  model.dispose();
}

interface Server {
  url: string;
  process: Deno.ChildProcess;
  /** stdout and stderr so far, once the process has ended. */
  output: () => Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `cli/serve.ts` on a free port; resolves once it listens. */
async function startServer(flags: string[]): Promise<Server> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli/serve.ts", import.meta.url).pathname,
      "--model",
      dir,
      "--port",
      "0",
      "--backend",
      "cpu",
      ...flags,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let stdout = "";
  // A server that does not listen within 120 s is killed (then: an error).
  const deadline = setTimeout(() => process.kill("SIGKILL"), 120_000);
  while (!/on (http:\/\/127\.0\.0\.1:\d+)/.test(stdout)) {
    const { value, done } = await lines.read();
    if (done) {
      const err = await new Response(process.stderr).text();
      throw new Error(`serve exited before listening: ${stdout}${err}`);
    }
    stdout += value;
  }
  clearTimeout(deadline);
  const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1];
  const stderrText = new Response(process.stderr).text();
  const rest = (async () => {
    while (true) {
      const { value, done } = await lines.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  return {
    url,
    process,
    output: async () => ({
      code: (await process.status).code,
      stdout: await rest,
      stderr: await stderrText,
    }),
  };
}

/** A server whose limits let `busy` in, draining for `seconds` on SIGTERM. */
const drainingServer = (seconds: number) =>
  startServer([
    "--max-texts",
    "100000",
    "--max-request-tokens",
    "1000000000",
    "--drain-timeout",
    String(seconds),
  ]);

const classify = (url: string, inputs: number[][]) =>
  fetch(`${url}/v1/classify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input_ids: inputs }),
  });

/**
 * Sends a request that keeps the server busy for many seconds; resolves once
 * the server counts it in flight, with the pending answer (wrapped: awaiting
 * a promise of a promise would wait for the answer too).
 */
async function busy(url: string): Promise<{ answer: Promise<unknown> }> {
  const inputs = Array.from({ length: 5000 }, (_, i) => [i % 32, 1, 2]);
  const answer = classify(url, inputs).then((r) => r.text()).catch((e) => e);
  for (const t0 = performance.now(); performance.now() - t0 < 60_000;) {
    const health = await (await fetch(`${url}/healthz`)).json();
    if (health.in_flight >= 1) return { answer };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${url}/healthz: no request in flight after 60 s`);
}

/** Kills the server if it still runs (after a failed assertion). */
function stop(server: Server) {
  try {
    server.process.kill("SIGKILL");
  } catch { /* already exited */ }
}

Deno.test({
  name:
    "serve flags --max-texts and --max-request-tokens: 413 naming the limit",
  sanitizeResources: false,
}, async () => {
  const server = await startServer([
    "--max-texts",
    "4",
    "--max_request_tokens", // the snake_case spelling is the same flag
    String(3 * SEQ_LEN),
  ]);
  try {
    const five = await classify(server.url, [[1], [2], [3], [4], [5]]);
    assert.equal(five.status, 413);
    const e5 = (await five.json()).error;
    assert.equal(e5.field, "input_ids");
    assert.match(
      e5.message,
      /at most 4 inputs per request .*--max-texts.*received 5/,
    );
    // Four inputs of a fixed-length model cost 4 × seqLen tokens.
    const four = await classify(server.url, [[1], [2], [3], [4]]);
    assert.equal(four.status, 413);
    const e4 = (await four.json()).error;
    assert.match(
      e4.message,
      new RegExp(
        `at most ${
          3 * SEQ_LEN
        } tokens per request .*--max-request-tokens.*received ${
          4 * SEQ_LEN
        } in 4 inputs`,
      ),
    );
    const three = await classify(server.url, [[1], [2], [3]]);
    assert.equal(three.status, 200);
    assert.equal((await three.json()).probabilities.length, 3);
    const info = await (await fetch(`${server.url}/v1/model`)).json();
    assert.equal(info.limits.maxTexts, 4);
    assert.equal(info.limits.maxRequestTokens, 3 * SEQ_LEN);
  } finally {
    server.process.kill("SIGKILL");
    await server.output();
  }
});

Deno.test({
  name: "SIGTERM drains for at most --drain-timeout seconds, then exits",
  sanitizeResources: false,
}, async () => {
  const server = await drainingServer(1);
  try {
    const { answer } = await busy(server.url);
    const t0 = performance.now();
    server.process.kill("SIGTERM");
    const out = await server.output();
    const seconds = (performance.now() - t0) / 1000;
    await answer;
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stdout, /SIGTERM: shutting down, finishing 1 requests/);
    assert.match(
      out.stderr,
      /drain timeout \(1 s\): exiting with 1 requests unanswered/,
    );
    assert.ok(seconds < 6, `exited ${seconds.toFixed(1)} s after SIGTERM`);
  } finally {
    stop(server);
  }
});

Deno.test({
  name: "a second signal during the drain exits at once",
  sanitizeResources: false,
}, async () => {
  const server = await drainingServer(120);
  try {
    const { answer } = await busy(server.url);
    server.process.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    server.process.kill("SIGINT");
    const out = await server.output();
    const seconds = (performance.now() - t0) / 1000;
    await answer;
    assert.equal(out.code, 1, out.stderr);
    assert.match(
      out.stderr,
      /SIGINT again: exiting now, 1 requests unanswered/,
    );
    assert.ok(
      seconds < 5,
      `exited ${seconds.toFixed(1)} s after the second signal`,
    );
  } finally {
    stop(server);
  }
});

Deno.test({
  name: "serve refuses a misspelled flag and a bad port by name",
  sanitizeResources: false,
}, async () => {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli/serve.ts", import.meta.url).pathname,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000), // a server that starts is killed
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const typo = await run(["--model", dir, "--max-text", "3"]);
  assert.equal(typo.code, 2);
  assert.match(
    typo.stderr,
    /unknown flag --max-text \(did you mean --max-texts\?\)/,
  );
  const port = await run(["--model", dir, "--port", "abc"]);
  assert.equal(port.code, 2);
  assert.match(
    port.stderr,
    /--port: expected an integer from 0 to 65535, received "abc"/,
  );
});
