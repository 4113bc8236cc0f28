// The article's IMDB model summary ("Mamba from scratch in Keras/TensorFlow")
// lists 22,234,625 trainable parameters; the example must build exactly that.
import assert from "node:assert/strict";
import { setBackend, tf } from "../kernels/backend.ts";
import { buildModel } from "../models/model.ts";
import imdbClassifier from "./imdb_classifier.ts";

Deno.test("imdb_classifier builds the article's 22,234,625 parameters", async () => {
  await setBackend("cpu");
  const model = buildModel(imdbClassifier, { seed: 0 });
  let total = 0;
  let finalNorm = 0;
  for (const [name, v] of model.params) {
    total += v.size;
    if (name.startsWith("backbone.norm_f.")) finalNorm += v.size;
  }
  model.dispose();
  tf.disposeVariables();
  // Keras layers of the article's summary, counted by hand:
  const d = 128, dIn = 256, n = 32, r = 8, k = 4;
  const block = 2 * d + // LayerNormalization (γ, β)
    d * 2 * dIn + // in_projection
    k * dIn + dIn + // depthwise Conv1D kernel + bias
    dIn * (r + 2 * n) + // x_projection
    r * dIn + dIn + // delta_t_projection + bias
    dIn * n + dIn + // A_log, D
    dIn * d; // out_projection
  const keras = 30522 * d + 12 * block + 2 * d + (128 * d * 1024 + 1024) +
    (1024 + 1);
  assert.equal(keras, 22_234_625);
  assert.equal(finalNorm, 2 * d, "the final LayerNormalization before Flatten");
  assert.equal(total, 22_234_625);
});

Deno.test("imdb_classifier's training options are the article's recipe and valid", async () => {
  const { training } = await import("./imdb_classifier.ts");
  const { resolveConfig } = await import("../train/config.ts");
  const { stepsForEpochs } = await import("../train/_plan.ts");
  const c = resolveConfig(training, {}, "examples/imdb_classifier.ts");
  assert.equal(c.epochs, 10);
  assert.equal(c.batchSize, 32);
  assert.deepEqual([c.lr, c.minLr, c.warmupSteps], [1e-3, 1e-3, 0]);
  assert.deepEqual([c.weightDecay, c.beta1, c.beta2, c.eps], [
    0.004,
    0.9,
    0.999,
    1e-7,
  ]);
  assert.deepEqual([c.validation, c.test, c.seed], [0, 0.5, 0]);
  assert.equal(c.tokenizer, "bert-base-uncased");
  assert.equal(
    stepsForEpochs(c.epochs, 25000, {
      batchSize: c.batchSize,
      accumSteps: c.accumSteps,
      wholeBatches: true,
    }),
    7810,
  );
});
