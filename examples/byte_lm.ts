/**
 * A small byte-level language model (vocabulary = the 256 byte values) that
 * trains on a 2-core CPU in minutes: width 128, 4 blocks, dState 16, final
 * RMSNorm, tied LM head (about 0.5M parameters).
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
    repeat(4, [residual({ norm: rmsNorm(), mixer: mamba({ dState: 16 }) })]),
    rmsNorm(),
    lmHead({ tied: true }),
  ],
});
