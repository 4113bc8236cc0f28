// A residual block's norm and mixer have their defaults in one place (the
// schema), so the JSON form and the TypeScript builders take the same ones.
import assert from "node:assert/strict";
import {
  architecture,
  embedding,
  fromJSON,
  layerNorm,
  lmHead,
  mamba,
  residual,
  toJSON,
} from "./builder.ts";
import { MIXER_DEFAULTS } from "./_test_util.ts";

const JSON_TEXT = `{
  "name": "t",
  "nodes": [
    { "kind": "embedding", "vocab": 8, "dim": 4 },
    { "kind": "residual" },
    { "kind": "residual", "norm": { "kind": "layer_norm" } },
    { "kind": "residual", "mixer": { "kind": "mamba", "dState": 4 } },
    { "kind": "lm_head" }
  ]
}`;

Deno.test("residual: JSON without norm and mixer takes the builders' defaults", () => {
  const fromText = fromJSON(JSON_TEXT);
  const built = architecture({
    name: "t",
    nodes: [
      embedding({ vocab: 8, dim: 4 }),
      residual(),
      residual({ norm: layerNorm() }),
      residual({ mixer: mamba({ dState: 4 }) }),
      lmHead(),
    ],
  });
  assert.deepEqual(fromText, built);
  const [, plain, normed, mixed] = fromText.nodes;
  assert.ok(plain.kind === "residual" && normed.kind === "residual");
  assert.ok(mixed.kind === "residual");
  assert.deepEqual(plain.norm, { kind: "rms_norm", eps: 1e-5 });
  assert.deepEqual(plain.mixer, MIXER_DEFAULTS);
  assert.deepEqual(normed.norm, { kind: "layer_norm", eps: 1e-5 });
  assert.equal(mixed.mixer.dState, 4);
  assert.equal(mixed.mixer.expand, 2);
  // Written out with every default, and read back the same.
  const text = toJSON(fromText);
  assert.match(text, /"norm": \{\n\s+"kind": "rms_norm",\n\s+"eps": 0.00001/);
  assert.deepEqual(fromJSON(text), fromText);
});

Deno.test("residual: a default does not hide a bad norm or mixer", () => {
  assert.throws(
    () =>
      fromJSON({
        name: "t",
        nodes: [
          { kind: "embedding", vocab: 8, dim: 4 },
          { kind: "residual", norm: null },
          { kind: "lm_head" },
        ],
      }),
    /^ArchitectureError: nodes\[1\]\.norm: expected an object, received null$/,
  );
  assert.throws(
    () =>
      fromJSON({
        name: "t",
        nodes: [
          { kind: "embedding", vocab: 8, dim: 4 },
          { kind: "residual", mixer: { kind: "mamba", dConv: 0 } },
          { kind: "lm_head" },
        ],
      }),
    /nodes\[1\]\.mixer\.dConv: expected a positive integer, received 0$/,
  );
});
