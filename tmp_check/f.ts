import { lanesShader } from "../kernels/webgpu/_wgsl_forward_lanes.ts";
const adapter = await navigator.gpu.requestAdapter();
const device = await adapter!.requestDevice({ requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage } });
for (const c of [{ N: 16, SL: 4, DC: 64, T: 8, hasZ: true }, { N: 1, SL: 1, DC: 64, T: 4, hasZ: false }, { N: 4, SL: 2, DC: 32, T: 4, hasZ: true }]) {
  device.pushErrorScope("validation");
  const m = device.createShaderModule({ code: lanesShader(c) });
  device.createComputePipeline({ layout: "auto", compute: { module: m, entryPoint: "main" } });
  const e = await device.popErrorScope();
  console.log(JSON.stringify(c), e?.message ?? "ok");
}
