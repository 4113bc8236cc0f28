/**
 * A saner IMDB classifier on the same data as `imdb_classifier.ts`: RMSNorm
 * blocks, a final RMSNorm, and mean pooling instead of Flatten, so it has no
 * fixed sequence length and ~4M fewer head weights (Flatten's 128·128×1024
 * dense is gone).
 *
 * Reference: the pre-norm + final-norm layout of HF `MambaModel`
 * (`norm_f`); mean pooling as Keras `GlobalAveragePooling1D`.
 *
 * @module
 */
import {
  architecture,
  classifier,
  dropout,
  embedding,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";

export default architecture({
  name: "imdb_better",
  nodes: [
    embedding({ vocab: 30522, dim: 128 }),
    repeat(12, [
      residual({ norm: rmsNorm(1e-5), mixer: mamba({ dState: 32 }) }),
      dropout(0.2),
    ]),
    rmsNorm(1e-5),
    classifier({
      pooling: "mean",
      hidden: { units: 256, activation: "gelu" },
      classes: 1,
      activation: "sigmoid",
      labels: ["negative", "positive"], // label 1 is positive (train/data/embedded.ts)
    }),
  ],
});
