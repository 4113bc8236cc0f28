/**
 * The lanes backward (`kernels/webgpu/_wgsl_backward_lanes.ts`: states
 * spread over lanes, one pass, the forward re-run per checkpoint chunk) vs
 * the float64 oracle: every gradient, including the initial state's and the
 * final state's incoming gradient; ragged lengths (not a multiple of the tile
 * or the checkpoint interval) and widths (a partly empty channel block), n ∈
 * {1, 3, 4, 16} (1, 1, 4 and 4 lanes per channel), with and without D, z and
 * Δ bias, after either forward kernel; outputs poisoned with NaN. See
 * `_webgpu_scan.ts`.
 */
import assert from "node:assert/strict";
import {
  backwardKernelFor,
  setScanTuning,
} from "../kernels/webgpu/scan_kernels.ts";
import { checkCase, ignore, poisoned } from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan, lanes backward: every gradient vs float64 oracle, ragged shapes",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned(
      { segLen: 0, backwardSegLen: 0, bwdKernel: "lanes" },
      async () => {
        // 70 channels: the last block of 8 is partly empty; 75 steps: the
        // last tile of 4 and the last checkpoint chunk of 8 are partly empty.
        await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 21, true);
        await checkCase({ b: 1, l: 1, dIn: 3, n: 16, full: true }, 22, true);
        await checkCase({ b: 2, l: 37, dIn: 9, n: 4, full: false }, 23, true);
        await checkCase({ b: 1, l: 21, dIn: 5, n: 1, full: true }, 24, true);
        await checkCase({ b: 1, l: 300, dIn: 5, n: 3, full: false }, 25, true);
      },
    ),
});

Deno.test({
  name:
    "webgpu scan, lanes backward after the lanes forward, 2 and 8 lanes: every gradient vs float64 oracle",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const lanesPerChannel of [2, 8]) {
      await poisoned(
        {
          segLen: 0,
          backwardSegLen: 0,
          fwdKernel: "lanes",
          bwdKernel: "lanes",
          lanesPerChannel,
        },
        () =>
          checkCase(
            { b: 2, l: 67, dIn: 19, n: 16, full: true },
            40 + lanesPerChannel,
            true,
          ),
      );
    }
  },
});

Deno.test("webgpu scan: auto backward kernel is lanes from 8192 (batch × channels) pairs up", () => {
  const t = setScanTuning({});
  const pick = (b: number, dIn: number, o = {}) =>
    backwardKernelFor(b, dIn, { ...t, bwdKernel: "auto", ...o });
  assert.equal(pick(8, 1536), "lanes"); // 12 288 pairs
  assert.equal(pick(1, 1536), "chunked"); // b = 1: the chunked one splits l
  assert.equal(pick(4, 2048), "lanes"); // exactly the threshold
  assert.equal(pick(1, 8191), "chunked");
  assert.equal(pick(8, 1536, { bwdKernel: "chunked" }), "chunked");
  assert.equal(pick(1, 1, { bwdKernel: "lanes" }), "lanes");
});
