/**
 * `deno task train` as a user types it: kebab-case flags (other spellings
 * the same flag), misspellings refused by name, `--progress=plain`, the plan
 * and the time estimate before the run, stop reasons in words, no export
 * message for a classifier, `--epochs`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { writeTinyClassifierRun } from "./_train_fixtures.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const { dir, arch, csv } = await writeTinyClassifierRun("tiny_cli");

async function train(...args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("train --help: kebab-case flags, --progress=plain offered; a misspelled flag is refused by name", async () => {
  const help = await train("--help");
  assert.equal(help.code, 0);
  for (
    const flag of ["--seq-len ", "--stop-after ", "--eval-every ", "--epochs "]
  ) {
    assert.ok(help.out.includes(flag), flag);
  }
  assert.doesNotMatch(help.out, /--seqLen |--stopAfter /);
  assert.match(help.out, /plain/);
  assert.match(help.out, /fixes seqLen .*accepts only that value/);
  const bad = await train(arch, "--stepz=3");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown flag --stepz \(did you mean --steps\?\)/);
  const num = await train(arch, "--eval-every=abc");
  assert.equal(num.code, 1);
  assert.match(
    num.err,
    /option "--eval-every": expected a number, received "abc"/,
  );
});

Deno.test("train: plan, estimate, --progress=plain, --stop-after and --resume in words, other spellings, no export message for a classifier", async () => {
  const out = `${dir}/run`;
  const common = [
    arch,
    `--data=${csv}`,
    "--steps=6",
    "--batch_size=4", // snake_case: the same flag
    "--backend=cpu",
    "--progress=plain",
    "--log-every=1",
    "--evalEvery=3", // camelCase: the same flag
    `--out=${out}`,
  ];
  const a = await train(...common, "--stop-after=2");
  assert.equal(a.code, 0, a.err);
  assert.match(
    a.out,
    /^plan: 6 steps × 4 examples × 16 tokens = 384 tokens, 0\.75 epochs of 32 training examples; 2 evaluations \(every 3 steps\); stopping after step 2; a time estimate follows the first steps$/m,
  );
  assert.match(a.out, /^step 2\/6 loss /m);
  assert.match(
    a.out,
    /^stopped at step 2 of 6, as --stop-after asked \(continue with --resume\)/m,
  );
  assert.doesNotMatch(a.out + a.err, /stopped: |hf export|Hugging Face/);
  // A lone --resume followed by another flag is the switch, not its value.
  const b = await train(...common, "--resume", "--progress=plain");
  assert.equal(b.code, 0, b.err);
  assert.match(b.out, /^resumed from .*checkpoints\/last at step 2$/m);
  assert.match(
    b.out,
    /^estimate: [0-9.]+ s\/step → about [0-9:]+ for the 1 step left and 1 evaluation$/m,
  );
  assert.match(b.out, /^finished: all 6 steps in /m);
  assert.doesNotMatch(b.out + b.err, /hf export|Hugging Face/);
});

Deno.test("train --epochs: steps from the training-set size and the batch", async () => {
  const r = await train(
    arch,
    `--data=${csv}`,
    "--epochs=0.5",
    "--batch-size=4",
    "--backend=cpu",
    "--progress=none",
    `--out=${dir}/epochs`,
  );
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^plan: 4 steps × 4 examples × 16 tokens = 256 tokens, 0\.50 epochs of 32 training examples \(--epochs=0\.5\);/m,
  );
  assert.match(r.out, /^finished: all 4 steps in /m);
});
