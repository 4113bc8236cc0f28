// Builders return plain un-defaulted data; architecture() fills defaults;
// toJSON/fromJSON round-trip every example; the JSON twins stay in sync.
// Regenerate the twins with: DSL_UPDATE_JSON=1 deno test -A dsl/builder_test.ts
import assert from "node:assert/strict";
import {
  architecture,
  classifier,
  dropout,
  embedding,
  fromJSON,
  layerNorm,
  lmHead,
  mamba,
  type MambaOptions,
  repeat,
  residual,
  rmsNorm,
  toJSON,
  validateArchitecture,
} from "./builder.ts";
import { ArchitectureError } from "./errors.ts";
import type { Architecture } from "./schema.ts";
import byteLm from "../examples/byte_lm.ts";
import imdbBetter from "../examples/imdb_better.ts";
import imdbClassifier from "../examples/imdb_classifier.ts";
import mamba130m from "../examples/mamba_130m.ts";
import spamClassifier from "../examples/spam_classifier.ts";
import { MIXER_DEFAULTS } from "./_test_util.ts";

const EXAMPLES: Record<string, Architecture> = {
  byte_lm: byteLm,
  imdb_better: imdbBetter,
  imdb_classifier: imdbClassifier,
  mamba_130m: mamba130m,
  spam_classifier: spamClassifier,
};

Deno.test("builders return plain data without defaults", () => {
  assert.deepEqual(embedding({ vocab: 8, dim: 4 }), {
    kind: "embedding",
    vocab: 8,
    dim: 4,
  });
  assert.deepEqual(rmsNorm(), { kind: "rms_norm" });
  assert.deepEqual(layerNorm(1e-6), { kind: "layer_norm", eps: 1e-6 });
  assert.deepEqual(mamba(), { kind: "mamba" });
  assert.deepEqual(mamba({ dState: 32, dtRank: undefined }), {
    kind: "mamba",
    dState: 32,
  });
  // The schema fills norm and mixer (residual_defaults_test.ts).
  assert.deepEqual(residual(), { kind: "residual" });
  assert.deepEqual(dropout(0.2), { kind: "dropout", rate: 0.2 });
  assert.deepEqual(repeat(2, [dropout(0.1)]), {
    kind: "repeat",
    times: 2,
    body: [{ kind: "dropout", rate: 0.1 }],
  });
  assert.deepEqual(lmHead(), { kind: "lm_head" });
  assert.deepEqual(
    classifier({ pooling: "mean", classes: 3, activation: "softmax" }),
    { kind: "classifier", pooling: "mean", classes: 3, activation: "softmax" },
  );
});

Deno.test("architecture() fills every default", () => {
  const arch = architecture({
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 4 }),
      residual(),
      classifier({
        pooling: "last",
        hidden: { units: 4 },
        classes: 1,
        activation: "sigmoid",
      }),
    ],
  });
  assert.deepEqual(arch, {
    name: "t",
    nodes: [
      { kind: "embedding", vocab: 8, dim: 4, padVocabMultiple: 1 },
      {
        kind: "residual",
        norm: { kind: "rms_norm", eps: 1e-5 },
        mixer: MIXER_DEFAULTS,
      },
      {
        kind: "classifier",
        pooling: "last",
        hidden: { units: 4, activation: "gelu" },
        classes: 1,
        activation: "sigmoid",
      },
    ],
  });
  assert.deepEqual(
    architecture({
      name: "t",
      nodes: [embedding({ vocab: 8, dim: 4 }), residual(), lmHead()],
    }).nodes[2],
    { kind: "lm_head", tied: true },
  );
});

Deno.test("an explicit undefined seqLen leaves no undefined key", () => {
  const arch = architecture({
    name: "t",
    seqLen: undefined,
    nodes: [embedding({ vocab: 8, dim: 4 }), residual(), lmHead()],
  });
  assert.equal(Object.hasOwn(arch, "seqLen"), false);
  assert.deepEqual(JSON.parse(JSON.stringify(arch)), arch);
});

Deno.test("builders keep unknown keys so the schema rejects them", () => {
  const options = { dState: 8, d_conv: 4 } as unknown as MambaOptions;
  assert.throws(
    () =>
      architecture({
        name: "t",
        nodes: [
          embedding({ vocab: 8, dim: 4 }),
          residual({ mixer: mamba(options) }),
          lmHead(),
        ],
      }),
    (e: unknown) =>
      e instanceof ArchitectureError &&
      e.issues.length === 1 &&
      e.issues[0].path === "nodes[1].mixer.d_conv",
  );
});

Deno.test("toJSON has a stable key order", () => {
  const scrambled = {
    nodes: [
      { dim: 4, vocab: 8, kind: "embedding" },
      {
        mixer: { scan: "seed", dState: 8, kind: "mamba" },
        norm: { eps: 1e-6, kind: "layer_norm" },
        kind: "residual",
      },
      { tied: false, kind: "lm_head" },
    ],
    name: "t",
  };
  const ordered = {
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 4 }),
      residual({
        norm: layerNorm(1e-6),
        mixer: mamba({ dState: 8, scan: "seed" }),
      }),
      lmHead({ tied: false }),
    ],
  };
  const text = toJSON(validateArchitecture(scrambled));
  assert.equal(text, toJSON(architecture(ordered)));
  assert.ok(text.startsWith('{\n  "name": "t",\n  "nodes": [\n'));
  assert.ok(text.endsWith("}\n"));
});

Deno.test("fromJSON reports invalid JSON as an ArchitectureError", () => {
  assert.throws(
    () => fromJSON("{ not json"),
    (e: unknown) =>
      e instanceof ArchitectureError &&
      e.issues[0].path === "" &&
      e.issues[0].expected === "valid JSON" &&
      e.message.startsWith("(root): expected valid JSON, received text"),
  );
});

Deno.test("fromJSON reports schema errors with paths", () => {
  assert.throws(
    () => fromJSON('{"name": "x", "nodes": [{"kind": "conv"}]}'),
    (e: unknown) =>
      e instanceof ArchitectureError && e.issues[0].path === "nodes[0].kind",
  );
});

for (const [name, arch] of Object.entries(EXAMPLES)) {
  Deno.test(`example ${name}: round-trips through JSON`, () => {
    assert.equal(arch.name, name);
    assert.deepEqual(fromJSON(toJSON(arch)), arch);
    assert.deepEqual(fromJSON(JSON.parse(toJSON(arch))), arch);
    assert.deepEqual(JSON.parse(JSON.stringify(arch)), arch);
    assert.deepEqual(validateArchitecture(arch), arch);
  });

  Deno.test(`example ${name}: JSON twin is in sync`, async () => {
    const url = new URL(`../examples/${name}.json`, import.meta.url);
    if (Deno.env.get("DSL_UPDATE_JSON") === "1") {
      await Deno.writeTextFile(url, toJSON(arch));
    }
    const text = await Deno.readTextFile(url);
    assert.equal(text, toJSON(arch), `regenerate with DSL_UPDATE_JSON=1`);
    assert.deepEqual(fromJSON(text), arch);
  });
}

Deno.test("example imdb_classifier matches the article's model", () => {
  const mixer = { ...MIXER_DEFAULTS, dState: 32 };
  assert.deepEqual(imdbClassifier, {
    name: "imdb_classifier",
    seqLen: 128,
    nodes: [
      { kind: "embedding", vocab: 30522, dim: 128, padVocabMultiple: 1 },
      {
        kind: "repeat",
        times: 12,
        body: [
          {
            kind: "residual",
            norm: { kind: "layer_norm", eps: 1e-5 },
            mixer,
          },
          { kind: "dropout", rate: 0.2 },
        ],
      },
      { kind: "layer_norm", eps: 1e-5 },
      {
        kind: "classifier",
        pooling: "flatten",
        hidden: { units: 1024, activation: "gelu" },
        classes: 1,
        activation: "sigmoid",
        labels: ["negative", "positive"],
      },
    ],
  });
});

Deno.test("example imdb_better has no fixed length and a final norm", () => {
  assert.equal(imdbBetter.seqLen, undefined);
  const kinds = imdbBetter.nodes.map((n) => n.kind);
  assert.deepEqual(kinds, ["embedding", "repeat", "rms_norm", "classifier"]);
  const head = imdbBetter.nodes[3];
  assert.ok(head.kind === "classifier" && head.pooling === "mean");
});

Deno.test("example mamba_130m matches state-spaces/mamba-130m-hf", () => {
  assert.deepEqual(mamba130m.nodes[0], {
    kind: "embedding",
    vocab: 50280,
    dim: 768,
    padVocabMultiple: 8,
  });
  const block = mamba130m.nodes[1];
  assert.ok(block.kind === "repeat" && block.times === 24);
  assert.deepEqual(block.body, [{
    kind: "residual",
    norm: { kind: "rms_norm", eps: 1e-5 },
    mixer: MIXER_DEFAULTS,
  }]);
  assert.deepEqual(mamba130m.nodes.slice(2), [
    { kind: "rms_norm", eps: 1e-5 },
    { kind: "lm_head", tied: true },
  ]);
});
