/**
 * `kill -9` at many instants of a real training process, then `--resume`:
 * every run must finish with the final model of an uninterrupted run, and
 * `last` and `best` must agree after every kill.
 *
 * Kill instants: `MAMBA_TRAIN_KILL_AT=n` makes the process SIGKILL itself
 * just before the n-th step of the checkpoint protocol (train/_atomic_dir.ts:
 * every write, fsync, rename and removal of both saves and of the recovery),
 * and a few kills come from outside after random delays (mid-write,
 * mid-evaluation, mid-export).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { recoverCheckpoints } from "../train/checkpoint.ts";
import { writeTinyClassifierRun } from "./_train_fixtures.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const { dir, arch, csv } = await writeTinyClassifierRun("tiny_kill");
const STEPS = 8;
const flags = [
  `--data=${csv}`,
  `--steps=${STEPS}`,
  "--batch-size=4",
  "--eval-every=1",
  "--early-stop=val_loss",
  "--backend=cpu",
  "--progress=none",
  "--warmup-steps=2",
  "--lr=0.02",
  "--seed=3",
];

/** Runs `deno task train`; kill: self-kill point, or a delay in ms. */
async function train(
  out: string,
  o: { resume?: boolean; killAt?: number; killAfterMs?: number } = {},
): Promise<{ killed: boolean; stdout: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli/train.ts",
      arch,
      ...flags,
      `--out=${out}`,
      ...(o.resume ? ["--resume"] : []),
    ],
    cwd: root,
    env: { MAMBA_TRAIN_KILL_AT: String(o.killAt ?? 0) },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (o.killAfterMs !== undefined) {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already ended */ }
    }, o.killAfterMs);
  }
  const r = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(r.stdout);
  const stderr = new TextDecoder().decode(r.stderr);
  if (r.signal === "SIGKILL") return { killed: true, stdout };
  assert.equal(r.code, 0, `train exited ${r.code}:\n${stdout}\n${stderr}`);
  return { killed: false, stdout };
}

/** On a copy (so the next run does its own recovery): last and best agree. */
async function assertConsistent(out: string, label: string): Promise<void> {
  const copy = `${out}.check`;
  await Deno.remove(copy, { recursive: true }).catch(() => {});
  const cp = await new Deno.Command("cp", { args: ["-a", out, copy] }).output();
  assert.ok(cp.success, "cp");
  try {
    await Deno.stat(`${copy}/checkpoints`);
  } catch {
    return; // killed before the first checkpoint
  }
  const { last, best } = await recoverCheckpoints(`${copy}/checkpoints`);
  if (last && last.best.step > 0) {
    assert.ok(
      best,
      `${label}: last names best step ${last.best.step}, no best/`,
    );
    assert.equal(best.step, last.best.step, `${label}: best/ step`);
    assert.equal(best.best.value, last.best.value, `${label}: best value`);
  }
  if (best) assert.ok(last && last.step >= best.step, `${label}: last ≥ best`);
  const left = [...Deno.readDirSync(`${copy}/checkpoints`)].map((e) => e.name)
    .filter((n) => n.startsWith("."));
  assert.deepEqual(left, [], `${label}: temporary folders left`);
  await Deno.remove(copy, { recursive: true });
}

Deno.test("kill -9 at many instants, then --resume: consistent last/best and the uninterrupted run's final model", async () => {
  const ref = `${dir}/ref`;
  await train(ref);
  const refModel = await Deno.readFile(`${ref}/model/model.safetensors`);

  const out = `${dir}/killed`;
  // Every step of the protocol of a first save (best or last, and of the
  // recovery's copy), steps of a second save, later instants; then kills
  // from outside after random delays.
  const plan: Array<{ killAt?: number; killAfterMs?: number }> = [
    ...Array.from({ length: 12 }, (_, i) => ({ killAt: i + 1 })),
    { killAt: 15 },
    { killAt: 19 },
    { killAt: 27 },
    { killAt: 45 },
  ];
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 4; i++) plan.push({ killAfterMs: 600 + random() * 1500 });
  let kills = 0;
  let finished = false;
  for (const [i, p] of plan.entries()) {
    let started = true;
    try {
      await Deno.stat(`${out}/checkpoints`);
    } catch {
      started = false;
    }
    const r = await train(out, { resume: started, ...p });
    if (r.killed) {
      kills++;
      await assertConsistent(out, `after kill ${i} (${JSON.stringify(p)})`);
    } else {
      finished = true;
      break;
    }
  }
  assert.ok(kills >= 15, `only ${kills} runs were killed`);
  if (!finished) await train(out, { resume: true });
  await assertConsistent(out, "at the end");
  const left = [...Deno.readDirSync(out)].map((e) => e.name)
    .filter((n) => n.startsWith("."));
  assert.deepEqual(left, [], "temporary folders left beside the model");
  const model = await Deno.readFile(`${out}/model/model.safetensors`);
  assert.deepEqual(model, refModel, "final model = the uninterrupted run's");
  const rows = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.filter((r) => r.type === "train").map((r) => r.step),
    Array.from({ length: STEPS }, (_, i) => i + 1),
  );
});
