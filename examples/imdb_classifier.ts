/**
 * The IMDB sentiment classifier of the article "Mamba from scratch in
 * Keras/TensorFlow", reproduced exactly: bert-base-uncased vocabulary
 * (30522), d_model 128, d_state 32, 12 blocks of LayerNorm → Mamba → Add
 * each followed by Dropout(0.2), a final LayerNorm (ε 1e-5), then Flatten
 * over the fixed 128-token sequence → Dense(1024, gelu) → Dense(1, sigmoid):
 * 22,234,625 parameters, the count in the article's model summary
 * (embedding 3,906,816 + 12 × 129,024 per block + final norm 256 + Dense
 * 16,778,240 + output 1,025).
 *
 * Flatten ties the model to seqLen 128; see `imdb_better.ts` for a variant
 * that works at any length.
 *
 * Reference: the article's `ModelArgs(model_input_dims=128, model_states=32,
 * num_layers=12, dropout_rate=0.2, num_classes=1)` and `init_model`
 * (`layers.LayerNormalization(epsilon=1e-5)` after the residual blocks,
 * before `Flatten`).
 *
 * @module
 */
import {
  architecture,
  classifier,
  dropout,
  embedding,
  layerNorm,
  mamba,
  repeat,
  residual,
} from "../dsl/builder.ts";

export default architecture({
  name: "imdb_classifier",
  seqLen: 128,
  nodes: [
    embedding({ vocab: 30522, dim: 128 }),
    repeat(12, [
      residual({
        norm: layerNorm(1e-5),
        mixer: mamba({ dState: 32, expand: 2, dConv: 4 }),
      }),
      dropout(0.2),
    ]),
    layerNorm(1e-5),
    classifier({
      pooling: "flatten",
      hidden: { units: 1024, activation: "gelu" },
      classes: 1,
      activation: "sigmoid",
      labels: ["negative", "positive"], // label 1 is positive (train/data/embedded.ts)
    }),
  ],
});

/**
 * The article's recipe, for `deno task train examples/imdb_classifier.ts`:
 * the IMDB reviews split 25,000 / 25,000 (seed 0, no validation set, so the
 * model saved is the last step's), bert-base-uncased, 10 epochs at batch 32
 * (7,810 steps: the stream drops each epoch's short tail of 8), Keras'
 * `AdamW()` defaults (lr 1e-3 constant, weight decay 0.004, ε 1e-7, no
 * clipping; here without decay on A_log, D, norms and biases), binary
 * cross-entropy, `[CLS] text [SEP]` cut to 128 tokens and padded on the
 * right. A checkpoint every epoch (781 steps). Hours per epoch on a CPU: the
 * GPU is the place for it.
 */
export const training = {
  data: "imdb",
  tokenizer: "bert-base-uncased",
  validation: 0,
  test: 0.5,
  seed: 0,
  epochs: 10,
  batchSize: 32,
  lr: 1e-3,
  minLr: 1e-3,
  warmupSteps: 0,
  weightDecay: 0.004,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-7,
  clip: 0,
  padSide: "right",
  truncateSide: "right",
  evalEvery: 781,
};
