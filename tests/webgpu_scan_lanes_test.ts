/**
 * The lanes forward (`kernels/webgpu/_wgsl_forward_lanes.ts`: states spread
 * over lanes, one pass, no length split) vs the float64 oracle: forward, final
 * state, and every gradient (the backward recomputes from the checkpoints the
 * lanes forward writes); ragged lengths and widths, n ∈ {1, 3, 4, 16} (1, 1,
 * 4 and 4 lanes per channel), with and without D, z, Δ bias and an initial
 * state; outputs poisoned with NaN. See `_webgpu_scan.ts`.
 */
import assert from "node:assert/strict";
import {
  forwardKernelFor,
  setScanTuning,
} from "../kernels/webgpu/scan_kernels.ts";
import { checkCase, ignore, poisoned } from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan, lanes forward (strided lanes): forward and gradients vs float64 oracle, ragged shapes",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned(
      {
        segLen: 0,
        backwardSegLen: 0,
        fwdKernel: "lanes",
        lanesAdjacent: false,
      },
      async () => {
        // 70 channels: the last workgroup of 8 is partly empty; 75 steps: the
        // last tile of 4 is partly empty.
        await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 11, true);
        await checkCase({ b: 1, l: 1, dIn: 3, n: 16, full: true }, 12, true);
        await checkCase({ b: 2, l: 37, dIn: 9, n: 4, full: false }, 13, true);
        await checkCase({ b: 1, l: 21, dIn: 5, n: 1, full: true }, 14, true);
        await checkCase(
          { b: 1, l: 3000, dIn: 5, n: 3, full: false },
          15,
          false,
        );
      },
    ),
});

Deno.test({
  name:
    "webgpu scan, lanes forward with adjacent lanes (vector share sums, vec4 B/C): forward and gradients vs float64 oracle",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // 4 lanes (vec4 shares; vec4 B/C at n = 16), 2 lanes (vec2 shares) and 8
    // lanes (shares summed one by one).
    for (const lanesPerChannel of [4, 2, 8]) {
      await poisoned(
        {
          segLen: 0,
          backwardSegLen: 0,
          fwdKernel: "lanes",
          lanesAdjacent: true,
          lanesPerChannel,
        },
        async () => {
          const seed = 30 + lanesPerChannel;
          await checkCase(
            { b: 3, l: 75, dIn: 70, n: 16, full: true },
            seed,
            true,
          );
          await checkCase(
            { b: 2, l: 37, dIn: 9, n: 4, full: false },
            seed + 1,
            true,
          );
        },
      );
    }
    await poisoned(
      { segLen: 0, backwardSegLen: 0, fwdKernel: "lanes", lanesAdjacent: true },
      () => checkCase({ b: 1, l: 21, dIn: 5, n: 1, full: true }, 40, true),
    );
  },
});

Deno.test("webgpu scan: auto forward kernel (the default) is lanes from 8192 (batch × channels) pairs up", () => {
  const t = { ...setScanTuning({}), fwdKernel: "auto" as const };
  const pick = (b: number, dIn: number, over = {}) =>
    forwardKernelFor(b, dIn, { ...t, ...over });
  assert.equal(pick(8, 1536), "lanes"); // 12 288 pairs
  assert.equal(pick(16, 2048), "lanes");
  assert.equal(pick(1, 1536), "chunked"); // b = 1: too few threads for lanes
  assert.equal(pick(1, 5120), "chunked");
  assert.equal(pick(4, 2048), "lanes"); // exactly the threshold
  assert.equal(pick(4, 2047), "chunked");
  assert.equal(pick(8, 1536, { fwdKernel: "chunked" }), "chunked");
  assert.equal(pick(1, 1, { fwdKernel: "lanes" }), "lanes");
});

Deno.test({
  name:
    "webgpu scan, auto forward kernel past its threshold: forward and gradients vs float64 oracle",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned(
      { segLen: 0, backwardSegLen: 0, fwdKernel: "auto", lanesFromPairs: 64 },
      async () => {
        // 3 × 70 = 210 pairs ≥ 64: lanes (asserted through forwardKernelFor,
        // which the kernel itself calls).
        assert.equal(forwardKernelFor(3, 70), "lanes");
        await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 21, true);
        assert.equal(forwardKernelFor(1, 9), "chunked");
        await checkCase({ b: 1, l: 40, dIn: 9, n: 4, full: false }, 22, true);
      },
    ),
});
