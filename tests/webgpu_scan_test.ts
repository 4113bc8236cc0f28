/**
 * WGSL selective scan vs the float64 oracle with short segments (the
 * length-split path: local pass, carry pass, full pass), forward and every
 * gradient; outputs poisoned with NaN. See `_webgpu_scan.ts`.
 */
import { checkCase, ignore, poisoned } from "./_webgpu_scan.ts";

Deno.test({
  name:
    "webgpu scan: forward and gradients vs float64 oracle, ragged shapes, length split",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  // Segments forced to 3 chunks (24 steps) so the local and carry passes
  // run: 4 segments, the last ragged.
  fn: () =>
    poisoned({ segLen: 24, backwardSegLen: 24 }, async () => {
      await checkCase({ b: 3, l: 75, dIn: 70, n: 16, full: true }, 1, true);
      await checkCase({ b: 1, l: 1, dIn: 3, n: 16, full: true }, 2, true);
    }),
});
