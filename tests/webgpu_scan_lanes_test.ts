/**
 * The lanes forward (`kernels/webgpu/_wgsl_forward_lanes.ts`: states spread
 * over lanes, one pass, no length split) vs the float64 oracle: forward, final
 * state, and every gradient (the backward recomputes from the checkpoints the
 * lanes forward writes); ragged lengths and widths, n ∈ {1, 3, 4, 16} (1, 1,
 * 4 and 4 lanes per channel), with and without D, z, Δ bias and an initial
 * state; outputs poisoned with NaN. See `_webgpu_scan.ts`.
 */
import { checkCase, ignore, poisoned } from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan, lanes forward: forward and gradients vs float64 oracle, ragged shapes",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    poisoned(
      { segLen: 0, backwardSegLen: 0, fwdKernel: "lanes" },
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
