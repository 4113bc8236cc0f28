/**
 * A small byte-level spam/ham classifier: bytes (vocabulary 256) of the
 * first 256 bytes of a message, width 64, 2 blocks, final RMSNorm, mean
 * pooling, one sigmoid output (probability of spam).
 *
 * Reference: the IMDB classifiers in this folder, scaled down.
 *
 * @module
 */
import {
  architecture,
  classifier,
  embedding,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";

export default architecture({
  name: "spam_classifier",
  seqLen: 256,
  nodes: [
    embedding({ vocab: 256, dim: 64 }),
    repeat(2, [residual({ norm: rmsNorm(), mixer: mamba({ dState: 16 }) })]),
    rmsNorm(),
    classifier({ pooling: "mean", classes: 1, activation: "sigmoid" }),
  ],
});
