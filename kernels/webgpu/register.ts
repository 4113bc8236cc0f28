/**
 * Side-effect module: registers the WGSL selective-scan kernels for the tfjs
 * "webgpu" backend and the "webgpu" implementation of `selectiveScan`.
 * Import it bare: `import "./kernels/webgpu/register.ts";`.
 *
 * Reference: tfjs `registerKernel` / `registerGradient`.
 *
 * @module
 */
import { registerScanImplementation } from "../selective_scan.ts";
import {
  registerWebGPUScan,
  webgpuSelectiveScan,
} from "./selective_scan_webgpu.ts";

registerWebGPUScan();
registerScanImplementation("webgpu", webgpuSelectiveScan);
