/**
 * A small byte-level language model (vocabulary = the 256 byte values) that
 * trains on a 2-core CPU in minutes: width 128, 2 blocks, dState 8, final
 * RMSNorm, tied LM head (about 0.25M parameters).
 *
 * Its `training` defaults reached 2.37 bits per byte on held-out Moby Dick in
 * 7 min 59 s wall time on a shared 2-core CPU (wasm backend, from a fresh
 * clone; see BENCHMARKS.md ("Training on the 2-core CPU") for the command and
 * the runs).
 *
 * Reference: the layout of HF `MambaForCausalLM`, scaled down.
 *
 * @module
 */
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";

export default architecture({
  name: "byte_lm",
  nodes: [
    embedding({ vocab: 256, dim: 128 }),
    repeat(2, [residual({ norm: rmsNorm(), mixer: mamba({ dState: 8 }) })]),
    rmsNorm(),
    lmHead({ tied: true }),
  ],
});

/** Training defaults for `deno task train examples/byte_lm.ts` (≤ 10 min on a 2-core CPU). */
export const training = {
  seqLen: 128,
  batchSize: 32,
  lr: 4e-3,
  warmupSteps: 20,
  steps: 320,
  maxMinutes: 9,
  evalEvery: 80,
  evalBatches: 4,
};
