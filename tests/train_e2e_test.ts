/**
 * End-to-end training on tiny models and files the tests write: a classifier
 * on CSV, a byte LM on a text file, resume bit-for-bit, bad input.
 */
import assert from "node:assert/strict";
import { tf } from "../kernels/backend.ts";
import { loadModel } from "../models/io.ts";
import { runTraining } from "../train/run.ts";
import { SPAM_CSV, tinyClassifierArch, tinyLmArch } from "./_train_fixtures.ts";
import { tempDirForModule } from "./_temp_dir.ts";

const dir = await tempDirForModule("train_e2e_");
const tinyClassifier = (vocab = 256) => tinyClassifierArch("tiny_cls", vocab);
const tinyLm = tinyLmArch("tiny_lm");
const csv = `${dir}/data.csv`;
await Deno.writeTextFile(csv, SPAM_CSV);
const text = `${dir}/corpus.txt`;
await Deno.writeTextFile(
  text,
  Array.from({ length: 3000 }, (_, i) => `${i % 7}`).join(
    "\n",
  ),
);
const clsFile = `${dir}/cls.json`;
await Deno.writeTextFile(
  clsFile,
  JSON.stringify({ ...tinyClassifier(), training: { batchSize: 4 } }),
);
const lmFile = `${dir}/lm.json`;
await Deno.writeTextFile(lmFile, JSON.stringify(tinyLm));
const quiet = () => {};
const common = { backend: "cpu", progress: "none", warmupSteps: 2, lr: 0.01 };

Deno.test("classifier on CSV: metrics, curves, checkpoints, saved model reloads with identical outputs", async () => {
  const out = `${dir}/cls-out`;
  const r = await runTraining(clsFile, {
    ...common,
    data: csv,
    steps: 4,
    evalEvery: 2,
    out,
  }, quiet);
  assert.equal(r.loop.step, 4);
  assert.equal(r.config.batchSize, 4); // from the file's training options
  for (const k of ["loss", "accuracy", "f1"]) {
    assert.ok(Number.isFinite(r.test[k]), k);
  }
  for (
    const f of [
      "metrics.jsonl",
      "loss.svg",
      "loss.png",
      "metric.svg",
      "metric.png",
      "model/architecture.json",
      "model/model.safetensors",
      "model/tokenizer_config.json",
      "checkpoints/last/trainer.json",
      "checkpoints/best/optimizer.safetensors",
    ]
  ) {
    await Deno.stat(`${out}/${f}`);
  }
  const rows = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split(
    "\n",
  ).map((l) => JSON.parse(l));
  assert.equal(rows.filter((x) => x.type === "train").length, 4);
  assert.equal(rows.filter((x) => x.type === "eval").length, 2);
  const a = await loadModel(`${out}/model`);
  const b = await loadModel(`${out}/checkpoints/best`);
  const ids = [[0, 0, 104, 105, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]];
  assert.deepEqual([...await a.forward(ids).data()], [
    ...await b.forward(ids).data(),
  ]);
  a.dispose();
  b.dispose();
});

Deno.test("byte LM on a text file: bits per byte; native and HF folders load back with identical outputs", async () => {
  const out = `${dir}/lm-out`;
  const r = await runTraining(lmFile, {
    ...common,
    data: text,
    steps: 3,
    evalEvery: 3,
    seqLen: 16,
    batchSize: 4,
    evalBatches: 2,
    out,
  }, quiet);
  assert.ok(r.test.bpb > 0 && r.test.bpb < 9, `bpb ${r.test.bpb}`);
  assert.ok(r.saved.hf, "hf export");
  const a = await loadModel(r.saved.native);
  const b = await loadModel(r.saved.hf!);
  const ids = [[1, 2, 3, 4]];
  assert.deepEqual([...await a.forward(ids).data()], [
    ...await b.forward(ids).data(),
  ]);
  a.dispose();
  b.dispose();
});

Deno.test("--resume continues bit-for-bit: same losses as an uninterrupted run", async () => {
  const base = { ...common, data: csv, steps: 6, evalEvery: 3, seed: 5 };
  const full = await runTraining(
    clsFile,
    { ...base, out: `${dir}/full` },
    quiet,
  );
  const first = await runTraining(clsFile, {
    ...base,
    out: `${dir}/split`,
    stopAfter: 3,
  }, quiet);
  assert.equal(first.loop.step, 3);
  const rest = await runTraining(clsFile, {
    ...base,
    out: `${dir}/split`,
    resume: true,
  }, quiet);
  assert.deepEqual(
    [...first.loop.losses, ...rest.loop.losses],
    full.loop.losses,
  );
  assert.deepEqual(rest.test, full.test);
  // Resumed once more at the last step: nothing to train, same test metrics,
  // and a validation column for the saved model.
  const lines: string[] = [];
  const again = await runTraining(clsFile, {
    ...base,
    out: `${dir}/split`,
    resume: true,
  }, (l) => lines.push(l));
  assert.equal(again.loop.step, 6);
  assert.deepEqual(again.loop.losses, []);
  assert.deepEqual(again.test, full.test);
  assert.ok(again.loop.validation, "validation of the saved model");
  assert.ok(lines.some((l) => l.includes("nothing to train")));
});

Deno.test("--validation=0 (the article's split): no evaluations, no best checkpoint; the saved model is the last step's", async () => {
  const out = `${dir}/noval`;
  const lines: string[] = [];
  const r = await runTraining(clsFile, {
    ...common,
    data: csv,
    validation: 0,
    steps: 4,
    evalEvery: 2,
    earlyStop: "val_accuracy",
    patience: 1,
    out,
  }, (l) => lines.push(l));
  assert.equal(r.loop.step, 4);
  assert.equal(r.loop.reason, "steps");
  assert.deepEqual(r.loop.best, { value: null, step: 0 });
  assert.equal(r.loop.validation, undefined);
  assert.ok(!lines.some((l) => l.startsWith("restored")), lines.join("\n"));
  assert.match(lines.join("\n"), /no evaluation \(no validation set\)/);
  await assert.rejects(Deno.stat(`${out}/checkpoints/best`));
  assert.deepEqual(
    await Deno.readFile(`${out}/model/model.safetensors`),
    await Deno.readFile(`${out}/checkpoints/last/model.safetensors`),
  );
  const rows = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.filter((x) => x.type === "eval").length, 0);
});

Deno.test("bad input: vocab smaller than the tokenizer's; corrupt checkpoint; missing column", async () => {
  const notObject = `${dir}/null.json`;
  for (const [text, received] of [["null", "null"], ["[1]", "an array"]]) {
    await Deno.writeTextFile(notObject, text);
    await assert.rejects(
      runTraining(notObject, { ...common, data: csv }, quiet),
      new RegExp(
        `null\\.json: expected an architecture as a JSON object, received ${received}$`,
      ),
    );
  }
  const small = `${dir}/small.json`;
  await Deno.writeTextFile(small, JSON.stringify(tinyClassifier(100)));
  await assert.rejects(
    runTraining(small, { ...common, data: csv }, quiet),
    /small\.json: embedding\.vocab: expected at least 256/,
  );
  const out = `${dir}/corrupt`;
  /** Two steps of clsFile into `out`, saving a checkpoint. */
  const save = () =>
    runTraining(
      clsFile,
      { ...common, data: csv, steps: 2, evalEvery: 2, out },
      quiet,
    );
  /** `--resume` of `file` from `out`'s checkpoint, to step 4. */
  const resume = (file = clsFile) =>
    runTraining(
      file,
      { ...common, data: csv, steps: 4, out, resume: true },
      quiet,
    );
  await save();
  const trainer = `${out}/checkpoints/last/trainer.json`;
  const state = JSON.parse(await Deno.readTextFile(trainer));
  await Deno.writeTextFile(trainer, JSON.stringify({ ...state, step: "two" }));
  await assert.rejects(
    resume(),
    /trainer\.json: field "step"/,
  );
  await Deno.writeTextFile(trainer, JSON.stringify({ ...state, step: 1e9 }));
  await assert.rejects(
    resume(),
    /checkpoints\/last\/trainer\.json: field "step": expected an integer from 0 to 4 \(the run's --steps\), received 1000000000/,
  );
  await Deno.writeTextFile(
    `${out}/checkpoints/last/optimizer.safetensors`,
    "garbage",
  );
  await Deno.writeTextFile(trainer, JSON.stringify(state));
  await assert.rejects(
    resume(),
    /optimizer\.safetensors/,
  );
  // Moments that are not finite, and an architecture file changed since.
  await Deno.remove(`${out}/checkpoints`, { recursive: true });
  await save();
  const optPath = `${out}/checkpoints/last/optimizer.safetensors`;
  const bytes = await Deno.readFile(optPath);
  const good = bytes.slice();
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  new DataView(bytes.buffer).setFloat32(8 + headerLen, NaN, true);
  await Deno.writeFile(optPath, bytes);
  await assert.rejects(
    resume(),
    /optimizer\.safetensors: tensor "[mv]\.[^"]+": expected finite moments.*received NaN at index 0/,
  );
  await Deno.writeFile(optPath, good);
  const changed = `${dir}/cls_changed.json`;
  const arch = tinyClassifier();
  (arch.nodes[1] as { times: number }).times = 2;
  await Deno.writeTextFile(
    changed,
    JSON.stringify({ ...arch, training: { batchSize: 4 } }),
  );
  await assert.rejects(
    resume(changed),
    /--resume: .*checkpoints\/last\/architecture\.json: expected the architecture of .*cls_changed\.json, received a different one \(nodes\[1\]\.times: 1 in the checkpoint, 2 in the file\)/,
  );
  await assert.rejects(
    runTraining(clsFile, { ...common, data: csv, textColumn: "body" }, quiet),
    /data\.csv: column "body"/,
  );
  tf.disposeVariables();
});
