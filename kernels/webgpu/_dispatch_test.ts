/**
 * `pipeline()`: a shader the device rejects is reported, not left to run as
 * an invalid pipeline that writes nothing.
 */
import assert from "node:assert/strict";
import { hasWebGPU, setBackend, SUBMIT_BATCH, tf } from "../backend.ts";
import { onSoftwareAdapter, pipeline, webgpuBackend } from "./_dispatch.ts";

Deno.test({
  name: "pipeline: a rejected shader throws on its next use, naming its key",
  ignore: !(await hasWebGPU()),
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await setBackend("webgpu");
  const device = webgpuBackend().device;
  const bad = "@compute @workgroup_size(1) fn main() { let x: u32 = 0.5u; }";
  const original = console.error;
  const logged: string[] = [];
  console.error = (...a: unknown[]) => logged.push(a.join(" "));
  const use = () => pipeline(device, "test_bad_shader", () => bad);
  try {
    use();
    // The rejection arrives asynchronously: wait for it (up to 5 s) rather
    // than for a fixed delay.
    for (let i = 0; i < 100 && logged.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    console.error = original;
  }
  assert.throws(
    use,
    /pipeline test_bad_shader: expected a valid shader, the device rejected it/,
  );
  assert.ok(logged.some((l) => l.includes("test_bad_shader")));
  // A valid shader still compiles.
  pipeline(
    device,
    "test_good_shader",
    () => "@compute @workgroup_size(1) fn main() {}",
  );
});

Deno.test({
  name:
    "webgpu backend: tfjs submits every 1024 dispatches on a software adapter, every 16 on a hardware one",
  ignore: !(await hasWebGPU()),
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await setBackend("webgpu");
  const batch = tf.env().get(SUBMIT_BATCH);
  assert.equal(batch, onSoftwareAdapter() ? 1024 : 16);
});
