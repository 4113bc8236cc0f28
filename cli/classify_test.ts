import assert from "node:assert/strict";
import { setBackend } from "../kernels/backend.ts";
import {
  architecture,
  classifier,
  embedding,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { buildModel } from "../models/model.ts";
import { saveModel } from "../models/io.ts";
import { runCli } from "./_run_cli.ts";

await setBackend("cpu");

/** Saves a small classifier; returns its folder and P(class 1) of ids 1,2,3. */
async function savedClassifier(
  head: Parameters<typeof classifier>[0],
): Promise<{ dir: string; probs: number[] }> {
  const model = buildModel(
    architecture({
      name: "clf",
      nodes: [
        embedding({ vocab: 16, dim: 8 }),
        residual(),
        rmsNorm(),
        classifier(head),
      ],
    }),
    { seed: 5 },
  );
  const dir = await Deno.makeTempDir();
  await saveModel(model, dir);
  const probs = Array.from(model.forward([[1, 2, 3]]).dataSync());
  model.dispose();
  return { dir, probs };
}

/** `classify.ts --model dir --ids 1,2,3 --backend cpu ...extra`. */
const classifyIds = (dir: string, ...extra: string[]) =>
  runCli("classify.ts", [
    "--model",
    dir,
    "--ids",
    "1,2,3",
    "--backend",
    "cpu",
    ...extra,
  ]);

Deno.test("a sigmoid classifier prints each label's probability", async () => {
  const { dir, probs: [p] } = await savedClassifier({
    pooling: "mean",
    classes: 1,
    activation: "sigmoid",
    labels: ["ham", "spam"],
  });
  try {
    const r = await classifyIds(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `1,2,3\tham: ${(1 - p).toFixed(4)}\tspam: ${p.toFixed(4)}\n`,
    );
    const j = await classifyIds(dir, "--json");
    const json = JSON.parse(j.stdout);
    assert.deepEqual(json.labels, ["ham", "spam"]);
    assert.ok(Math.abs(json.probabilities[0][0] - p) <= 1e-6);
    assert.equal(json.scores[0][1].label, "spam");
    assert.ok(Math.abs(json.scores[0][0].score - (1 - p)) <= 1e-6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without labels each class is named by its index; flags are checked", async () => {
  const { dir, probs } = await savedClassifier({
    pooling: "last",
    classes: 3,
    activation: "softmax",
  });
  try {
    const r = await classifyIds(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `1,2,3\t${probs.map((v, c) => `${c}: ${v.toFixed(4)}`).join("\t")}\n`,
    );
    const typo = await runCli("classify.ts", ["--model", dir, "--jsn", "x"]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown flag --jsn \(did you mean --json\?\)/);
    const text = await runCli("classify.ts", ["--model", dir, "some text"]);
    assert.equal(text.code, 1);
    // No --backend: the library picks one and says which, once.
    assert.match(
      text.stderr,
      /^mamba-ts: using the (webgpu|wasm) backend, picked automatically/,
    );
    assert.match(text.stderr, /has no tokenizer .*--ids 1,2,3/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
