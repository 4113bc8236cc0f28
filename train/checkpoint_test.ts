import assert from "node:assert/strict";
import { readTrainerState, validateTrainerState } from "./checkpoint.ts";
import { recoverDir } from "./_atomic_dir.ts";

const good = {
  version: 1,
  step: 12,
  data: { epoch: 0, index: 48 },
  best: { value: 0.25, step: 10 },
  badEvals: 1,
  elapsed: 3.5,
};

Deno.test("trainer.json: a valid state passes; each bad field is named with the file and what was expected", () => {
  assert.deepEqual(validateTrainerState(good, "c/trainer.json"), good);
  assert.deepEqual(
    validateTrainerState(
      { ...good, data: [1, 2, 3, 4294967295] },
      "c/trainer.json",
      { steps: 12 },
    ).data,
    [1, 2, 3, 4294967295],
  );
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [
      { ...good, step: 1e9 },
      /^c\/trainer\.json: field "step": expected an integer from 0 to 20 \(the run's --steps\), received 1000000000$/,
    ],
    [{ ...good, step: 2.5 }, /field "step": expected an integer/],
    [{ ...good, step: -1 }, /field "step": expected an integer/],
    [{ ...good, step: "two" }, /field "step": .*received "two"$/],
    [{ ...good, version: 2 }, /field "version": expected 1, received 2/],
    [
      { ...good, extra: 1 },
      /field "extra": unknown; expected only version, step, data/,
    ],
    [
      { ...good, best: { value: 0.1, step: 13 } },
      /field "best\.step": expected an integer from 0 to 12 \(step\)/,
    ],
    [
      { ...good, best: { value: null, step: 3 } },
      /field "best\.step": expected 0 while best\.value is null/,
    ],
    [
      { ...good, best: { value: Infinity, step: 3 } },
      /field "best\.value": expected a finite number, received Infinity/,
    ],
    [
      { ...good, badEvals: 1e9 },
      /field "badEvals": expected an integer from 0 to 12/,
    ],
    [{ ...good, elapsed: -1 }, /field "elapsed": expected a number ≥ 0/],
    [
      { ...good, elapsed: NaN },
      /field "elapsed": expected a finite number, received NaN/,
    ],
    [
      { ...good, data: { epoch: 0, index: -4 } },
      /field "data\.index": expected an integer/,
    ],
    [
      { ...good, data: [1, 2, 3] },
      /field "data": expected 4 unsigned 32-bit words/,
    ],
    [
      { ...good, data: [1, 2, 3, 2 ** 32] },
      /field "data\.3": expected an integer from 0 to 4294967295/,
    ],
    [
      { ...good, data: "x" },
      /field "data": expected an object with epoch, index/,
    ],
  ];
  for (const [state, re] of bad) {
    let message = "(no error)";
    try {
      validateTrainerState(state, "c/trainer.json", { steps: 20 });
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, re);
  }
  assert.throws(
    () => validateTrainerState(null, "c/trainer.json"),
    /field "\(root\)": expected an object/,
  );
});

Deno.test("trainer.json read from disk: 1e999 (Infinity) and a step beyond the run are refused", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/trainer.json`,
    JSON.stringify(good).replace('"elapsed":3.5', '"elapsed":1e999'),
  );
  await assert.rejects(
    readTrainerState(dir),
    /trainer\.json: field "elapsed": expected a finite number, received Infinity/,
  );
  await Deno.writeTextFile(`${dir}/trainer.json`, JSON.stringify(good));
  assert.equal((await readTrainerState(dir, { steps: 12 })).step, 12);
  await assert.rejects(
    readTrainerState(dir, { steps: 11 }),
    /field "step": expected an integer from 0 to 11/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("recoverDir: rolls a cut-short replacement forward and removes leftovers", async () => {
  const root = await Deno.makeTempDir();
  const put = async (dir: string, step: number) => {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/trainer.json`, JSON.stringify({ step }));
  };
  const stepOf = async (dir: string) =>
    JSON.parse(await Deno.readTextFile(`${dir}/trainer.json`)).step;
  const whole = async (dir: string) => {
    try {
      await Deno.stat(`${dir}/trainer.json`);
      return true;
    } catch {
      return false;
    }
  };
  const names = () => [...Deno.readDirSync(root)].map((e) => e.name).sort();
  const last = `${root}/last`;

  // Killed while writing the temporary folder: the old folder stays.
  await put(last, 1);
  await Deno.mkdir(`${root}/.last.tmp`);
  assert.equal(await recoverDir(last, whole), true);
  assert.equal(await stepOf(last), 1);
  assert.deepEqual(names(), ["last"]);

  // Killed after the new folder was complete, before the swap.
  await put(`${root}/.last.new`, 2);
  assert.equal(await recoverDir(last, whole), true);
  assert.equal(await stepOf(last), 2);
  assert.deepEqual(names(), ["last"]);

  // Killed between the two renames: no `last`, the old one aside.
  await Deno.rename(last, `${root}/.last.old`);
  await put(`${root}/.last.new`, 3);
  assert.equal(await recoverDir(last, whole), true);
  assert.equal(await stepOf(last), 3);
  assert.deepEqual(names(), ["last"]);

  // Killed while removing the old folder.
  await put(`${root}/.last.old`, 2);
  assert.equal(await recoverDir(last, whole), true);
  assert.equal(await stepOf(last), 3);
  assert.deepEqual(names(), ["last"]);

  // The earlier protocol, killed between its renames: a complete
  // `.last.<id>.tmp` (newer) and `.last.<id>.old`, plus a partial tmp.
  await Deno.rename(last, `${root}/.last.0badcafe.old`);
  await put(`${root}/.last.0badcafe.tmp`, 4);
  await Deno.mkdir(`${root}/.last.12345678.tmp`);
  assert.equal(await recoverDir(last, whole), true);
  assert.equal(await stepOf(last), 4);
  assert.deepEqual(names(), ["last"]);

  // Nothing there.
  assert.equal(await recoverDir(`${root}/best`, whole), false);
  await Deno.remove(root, { recursive: true });
});
