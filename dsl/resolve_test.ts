// Derived values: dModel, paddedVocab, per-layer dInner / numeric dtRank,
// and the flat plan with repeats expanded.
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
} from "./builder.ts";
import { ArchitectureError } from "./errors.ts";
import { dtRankOf, resolveArchitecture } from "./resolve.ts";
import type { Architecture } from "./schema.ts";
import imdbClassifier from "../examples/imdb_classifier.ts";
import mamba130m from "../examples/mamba_130m.ts";

Deno.test("resolve: mamba_130m has 24 layers, dtRank 48, dInner 1536", () => {
  const r = resolveArchitecture(mamba130m);
  assert.equal(r.dModel, 768);
  assert.equal(r.vocab, 50280);
  assert.equal(r.paddedVocab, 50280);
  assert.equal(Object.hasOwn(r, "seqLen"), false);
  assert.equal(r.layers.length, 24);
  assert.deepEqual(r.layers.map((l) => l.index), [...Array(24).keys()]);
  for (const layer of r.layers) {
    assert.ok(layer.mixer.kind === "mamba");
    assert.equal(layer.mixer.dtRank, "auto");
    assert.equal(layer.mixer.dtRankValue, 48);
    assert.equal(layer.mixer.dInner, 1536);
    assert.deepEqual(layer.norm, { kind: "rms_norm", eps: 1e-5 });
  }
  assert.deepEqual(r.plan.slice(-2), [
    { kind: "norm", norm: { kind: "rms_norm", eps: 1e-5 } },
    { kind: "lm_head", tied: true },
  ]);
  assert.deepEqual(r.head, { kind: "lm_head", tied: true });
});

Deno.test("resolve: dtRank auto is ceil(dim / 16); numbers are kept", () => {
  const mixer = architecture({
    name: "t",
    nodes: [embedding({ vocab: 8, dim: 768 }), residual(), lmHead()],
  }).nodes[1];
  assert.ok(mixer.kind === "residual" && mixer.mixer.kind === "mamba");
  assert.equal(dtRankOf(mixer.mixer, 768), 48);
  assert.equal(dtRankOf(mixer.mixer, 100), 7); // ceil(6.25)
  assert.equal(dtRankOf(mixer.mixer, 16), 1);
  const r = resolveArchitecture(architecture({
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 100 }),
      residual({ mixer: mamba({ dtRank: 5, expand: 3 }) }),
      residual(),
      lmHead(),
    ],
  }));
  assert.deepEqual(
    r.layers.map((l) => [
      l.mixer.kind === "mamba" ? l.mixer.dtRankValue : NaN,
      l.mixer.dInner,
    ]),
    [[5, 300], [7, 200]],
  );
});

Deno.test("resolve: paddedVocab rounds vocab up to padVocabMultiple", () => {
  const padded = (vocab: number, padVocabMultiple: number) =>
    resolveArchitecture(architecture({
      name: "t",
      nodes: [
        embedding({ vocab, dim: 16, padVocabMultiple }),
        residual(),
        lmHead(),
      ],
    })).paddedVocab;
  assert.equal(padded(50277, 8), 50280);
  assert.equal(padded(50280, 8), 50280);
  assert.equal(padded(50277, 1), 50277);
  assert.equal(padded(1, 64), 64);
});

Deno.test("resolve: IMDB plan has a dropout after each of the 12 blocks", () => {
  const r = resolveArchitecture(imdbClassifier);
  assert.equal(r.seqLen, 128);
  assert.equal(r.dModel, 128);
  assert.equal(r.layers.length, 12);
  const expected = [
    { kind: "embedding" },
    ...Array.from({ length: 12 }, (_, i) => [
      { kind: "residual", layer: i },
      { kind: "dropout", rate: 0.2 },
    ]).flat(),
    { kind: "norm", norm: { kind: "layer_norm", eps: 1e-5 } },
    {
      kind: "classifier",
      pooling: "flatten",
      hidden: { units: 1024, activation: "gelu" },
      classes: 1,
      activation: "sigmoid",
      labels: ["negative", "positive"],
    },
  ];
  assert.deepEqual(r.plan, expected);
  assert.deepEqual(r.head, expected[expected.length - 1]);
  for (const layer of r.layers) {
    assert.deepEqual(layer.norm, { kind: "layer_norm", eps: 1e-5 });
    assert.equal(layer.mixer.dState, 32);
    assert.equal(layer.mixer.dInner, 256);
    assert.ok(layer.mixer.kind === "mamba");
    assert.equal(layer.mixer.dtRankValue, 8);
  }
});

Deno.test("resolve: nested repeats number layers in execution order", () => {
  const r = resolveArchitecture(architecture({
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 16 }),
      residual({ mixer: mamba({ dState: 1 }) }),
      repeat(2, [
        residual({ mixer: mamba({ dState: 2 }) }),
        repeat(2, [layerNorm(), residual({ mixer: mamba({ dState: 3 }) })]),
        dropout(0.1),
      ]),
      rmsNorm(),
      classifier({ pooling: "last", classes: 3, activation: "softmax" }),
    ],
  }));
  assert.deepEqual(r.layers.map((l) => l.mixer.dState), [1, 2, 3, 3, 2, 3, 3]);
  assert.deepEqual(
    r.plan.map((s) => s.kind === "residual" ? `r${s.layer}` : s.kind),
    [
      "embedding",
      "r0",
      "r1",
      "norm",
      "r2",
      "norm",
      "r3",
      "dropout",
      "r4",
      "norm",
      "r5",
      "norm",
      "r6",
      "dropout",
      "norm",
      "classifier",
    ],
  );
});

Deno.test("resolve: layers from one repeat body are independent objects", () => {
  const r = resolveArchitecture(architecture({
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 16 }),
      repeat(2, [residual()]),
      lmHead(),
    ],
  }));
  assert.notEqual(r.layers[0].mixer, r.layers[1].mixer);
  assert.notEqual(r.layers[0].norm, r.layers[1].norm);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("resolve: hand-built invalid data fails with an ArchitectureError", () => {
  const bad = {
    name: "t",
    nodes: [{ kind: "embedding", vocab: 8, dim: 16, padVocabMultiple: 1 }],
  } as Architecture;
  assert.throws(() => resolveArchitecture(bad), ArchitectureError);
});
