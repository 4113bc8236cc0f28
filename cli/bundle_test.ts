import assert from "node:assert/strict";
import { runCli } from "./_run_cli.ts";

Deno.test("bundle --help prints help and writes nothing", async () => {
  const out = await Deno.makeTempDir();
  try {
    const r = await runCli("bundle.ts", ["--help", "--out", `${out}/b.js`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: deno task bundle/);
    assert.deepEqual([...Deno.readDirSync(out)], []);
    const typo = await runCli("bundle.ts", ["--ouput", `${out}/b.js`]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown flag --ouput \(did you mean --out\?\)/);
    assert.deepEqual([...Deno.readDirSync(out)], []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
