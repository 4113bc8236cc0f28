// The sizes the DSL computes without building (dsl/sizes.ts) against the
// model buildModel really makes: every parameter count equals the sum of the
// built variables' sizes, and the node count the length of the plan.
import assert from "node:assert/strict";
import {
  architecture,
  classifier,
  dropout,
  embedding,
  layerNorm,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";
import { resolveArchitecture } from "../dsl/resolve.ts";
import type { Architecture } from "../dsl/schema.ts";
import { architectureSizes } from "../dsl/sizes.ts";
import { setBackend } from "../kernels/backend.ts";
import { buildModel } from "../models/model.ts";
import byteLm from "../examples/byte_lm.ts";
import imdbClassifier from "../examples/imdb_classifier.ts";
import spamClassifier from "../examples/spam_classifier.ts";

await setBackend("cpu");

const CASES: Record<string, Architecture> = {
  byte_lm: byteLm,
  imdb_classifier: imdbClassifier,
  spam_classifier: spamClassifier,
  every_option: architecture({
    name: "every-option",
    seqLen: 6,
    nodes: [
      embedding({ vocab: 37, dim: 12, padVocabMultiple: 8 }),
      repeat(2, [
        residual({
          norm: layerNorm(),
          mixer: mamba({
            dState: 3,
            expand: 3,
            dConv: 5,
            dtRank: 2,
            bias: true,
            convBias: false,
          }),
        }),
        dropout(0.1),
        rmsNorm(),
        repeat(2, [residual()]),
      ]),
      layerNorm(),
      classifier({
        pooling: "flatten",
        hidden: { units: 7 },
        classes: 3,
        activation: "softmax",
      }),
    ],
  }),
  untied_lm: architecture({
    name: "untied",
    nodes: [
      embedding({ vocab: 50, dim: 20, padVocabMultiple: 16 }),
      residual({ mixer: mamba({ dtRank: 3 }) }),
      rmsNorm(),
      lmHead({ tied: false }),
    ],
  }),
  mean_classifier: architecture({
    name: "mean",
    nodes: [
      embedding({ vocab: 9, dim: 8 }),
      residual({ mixer: mamba({ bias: true }) }),
      classifier({ pooling: "mean", classes: 1, activation: "sigmoid" }),
    ],
  }),
};

for (const [name, arch] of Object.entries(CASES)) {
  Deno.test(`sizes: ${name}: the parameter count is what buildModel makes`, () => {
    const model = buildModel(arch, { seed: 1 });
    let built = 0;
    for (const v of model.params.values()) built += v.size;
    model.dispose();
    const sizes = architectureSizes(arch);
    assert.equal(sizes.parameters, built);
    assert.equal(sizes.nodes, resolveArchitecture(arch).plan.length);
  });
}

Deno.test("sizes: imdb_classifier has the article's 22,234,625 parameters", () => {
  assert.equal(architectureSizes(imdbClassifier).parameters, 22_234_625);
});
