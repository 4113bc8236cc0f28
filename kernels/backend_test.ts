/**
 * Backend selection as a new user meets it: each case runs a fresh Deno
 * process (a backend, once chosen, stays chosen for the process).
 */
import assert from "node:assert/strict";
import { hasWebGPU } from "./backend.ts";

const ROOT = new URL("../", import.meta.url);
const SELECTION_VARS = [
  "XDG_RUNTIME_DIR",
  "NODEVICE_SELECT",
  "MESA_VK_DEVICE_SELECT",
  "DRI_PRIME",
];

/** Runs a script importing the project by absolute URL; returns its output. */
async function runScript(
  body: string,
  env: Record<string, string> = {},
  clearEnv = false,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mamba-backend-test-" });
  try {
    const file = `${dir}/script.ts`;
    await Deno.writeTextFile(
      file,
      body.replaceAll("ROOT/", ROOT.href),
    );
    // clearEnv: this environment without the variables the case is about.
    const base = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) =>
        !SELECTION_VARS.includes(k)
      ),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        new URL("deno.json", ROOT).pathname,
        file,
      ],
      env: { ...base, NO_COLOR: "1", ...env },
      clearEnv,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return {
      code: out.code,
      stdout: text.decode(out.stdout),
      stderr: text.decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("buildModel then forward with no setBackend: cpu, said once on stderr", async () => {
  const r = await runScript(`
import { architecture, buildModel, embedding, lmHead, residual, rmsNorm, getBackend } from "ROOT/mod.ts";
const arch = architecture({ name: "t", nodes: [embedding({ vocab: 16, dim: 8 }), residual(), rmsNorm(), lmHead({ tied: true })] });
const a = buildModel(arch, { seed: 0 });
const b = buildModel(arch, { seed: 1 });
const y = a.forward([[1, 2, 3]]);
console.log(JSON.stringify({ backend: getBackend(), shape: y.shape, finite: Array.from(await y.data()).every(Number.isFinite) }));
b.dispose();
`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    backend: "cpu",
    shape: [1, 3, 16],
    finite: true,
  });
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^mamba-ts: using the cpu backend, .*setBackend/);
});

Deno.test("loadModel then forward with no setBackend: the auto order, said once", async () => {
  const want = await hasWebGPU() ? "webgpu" : "wasm";
  const r = await runScript(`
import { loadModel, getBackend } from "ROOT/mod.ts";
import { readExpected, relativeError } from "ROOT/tests/_util.ts";
const fixture = new URL("tests/fixtures/hf-mamba/tiny", "ROOT/").pathname;
const model = await loadModel(fixture);
const again = await loadModel(fixture);
const want = await readExpected("tiny");
const y = model.forward(want.inputIds);
console.log(JSON.stringify({ backend: getBackend(), err: relativeError(await y.data(), want.logitsF64) }));
again.dispose();
`);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.backend, want);
  assert.ok(out.err < 1e-4, `relative error ${out.err} ≥ 1e-4`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.equal(
    lines[0],
    `mamba-ts: using the ${want} backend, picked automatically (webgpu, else wasm, else cpu); call setBackend() to choose`,
  );
});

Deno.test("a backend chosen by setBackend is kept and nothing is said", async () => {
  const r = await runScript(`
import { buildModel, loadModel, setBackend, getBackend, architecture, embedding, lmHead, residual, rmsNorm } from "ROOT/mod.ts";
await setBackend("wasm");
buildModel(architecture({ name: "t", nodes: [embedding({ vocab: 8, dim: 4 }), residual(), rmsNorm(), lmHead({ tied: true })] }));
await loadModel(new URL("tests/fixtures/hf-mamba/tiny", "ROOT/").pathname);
console.log(getBackend());
`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "wasm");
  assert.equal(r.stderr, "");
});

Deno.test("without XDG_RUNTIME_DIR a WebGPU probe turns off Mesa's device-select layer and prints nothing", async () => {
  const script = `
import { hasWebGPU } from "ROOT/kernels/backend.ts";
const gpu = await hasWebGPU();
console.log(JSON.stringify({ gpu, nodeviceSelect: Deno.env.get("NODEVICE_SELECT") ?? null }));
`;
  // The cause, where Mesa's Vulkan layer is installed: libwayland printed
  // "error: XDG_RUNTIME_DIR is invalid or not set in the environment." on
  // every adapter request. Where it is not installed, the stderr check
  // passes either way and the environment check is what fails on old code.
  const headless = await runScript(script, {}, true);
  assert.equal(headless.code, 0, headless.stderr);
  assert.doesNotMatch(headless.stderr, /XDG_RUNTIME_DIR/);
  assert.equal(JSON.parse(headless.stdout).nodeviceSelect, "1");
  const tmp = await Deno.makeTempDir();
  try {
    const relative = await runScript(script, { XDG_RUNTIME_DIR: "run" }, true);
    assert.doesNotMatch(relative.stderr, /XDG_RUNTIME_DIR/);
    assert.equal(JSON.parse(relative.stdout).nodeviceSelect, "1");
    const session = await runScript(script, { XDG_RUNTIME_DIR: tmp }, true);
    assert.equal(session.code, 0, session.stderr);
    assert.equal(JSON.parse(session.stdout).nodeviceSelect, null);
    const chosen = await runScript(
      script,
      { MESA_VK_DEVICE_SELECT: "10005:0" },
      true,
    );
    assert.equal(JSON.parse(chosen.stdout).nodeviceSelect, null);
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test({
  name: "a synchronous read of a webgpu tensor says to await data() instead",
  ignore: !(await hasWebGPU()),
}, async () => {
  const r = await runScript(`
import { setBackend, tf } from "ROOT/kernels/backend.ts";
await setBackend("webgpu");
const t = tf.tensor([1, 2]).square();
let message = "no error";
try { t.dataSync(); } catch (e) { message = (e as Error).message; }
console.log(JSON.stringify({ message, after: Array.from(await tf.tensor([3]).square().data()) }));
`);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.match(
    out.message,
    /^webgpu: dataSync\(\).*use await tensor\.data\(\)/,
  );
  assert.deepEqual(out.after, [9]); // the backend still works
});
