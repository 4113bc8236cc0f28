// Schema-level validation: one test per field rule, each asserting the exact
// path and the expected/received parts of the one issue it produces.
import assert from "node:assert/strict";
import {
  classifier,
  dropout,
  embedding,
  layerNorm,
  lmHead,
  mamba,
  type MambaOptions,
  repeat,
  residual,
  rmsNorm,
} from "./builder.ts";
import { assertOnlyIssue, issuesOf } from "./_test_util.ts";
import { type MambaNode, NODE_KINDS, NodeSchema } from "./schema.ts";
import type { ScanImpl } from "../kernels/scan_types.ts";

/** A valid architecture around `middle` (embedding first, LM head last). */
function withNodes(middle: unknown[], extra: Record<string, unknown> = {}) {
  return {
    name: "t",
    ...extra,
    nodes: [embedding({ vocab: 32, dim: 16 }), ...middle, lmHead()],
  };
}

/** A valid architecture with one residual whose mixer has `options`. */
function withMixer(options: Record<string, unknown>) {
  return withNodes([residual({ mixer: mamba(options as MambaOptions) })]);
}

Deno.test("schema: negative dState names the path and the value", () => {
  assertOnlyIssue(
    withNodes([
      residual(),
      dropout(0.1),
      residual({ mixer: mamba({ dState: -4 }) }),
    ]),
    "nodes[3].mixer.dState",
    "a positive integer",
    "-4",
  );
});

Deno.test("schema: non-integer dState", () => {
  assertOnlyIssue(
    withMixer({ dState: 2.5 }),
    "nodes[1].mixer.dState",
    "a positive integer",
    "2.5",
  );
});

Deno.test("schema: dConv 0", () => {
  assertOnlyIssue(
    withMixer({ dConv: 0 }),
    "nodes[1].mixer.dConv",
    "a positive integer",
    "0",
  );
});

Deno.test("schema: NaN expand", () => {
  assertOnlyIssue(
    withMixer({ expand: NaN }),
    "nodes[1].mixer.expand",
    "a positive integer",
    "NaN",
  );
});

Deno.test("schema: dtRank neither auto nor a positive integer", () => {
  assertOnlyIssue(
    withMixer({ dtRank: "big" }),
    "nodes[1].mixer.dtRank",
    `"auto" or a positive integer`,
    `"big"`,
  );
  assertOnlyIssue(
    withMixer({ dtRank: 0 }),
    "nodes[1].mixer.dtRank",
    `"auto" or a positive integer`,
    "0",
  );
});

Deno.test("schema: dtMin not positive", () => {
  assertOnlyIssue(
    withMixer({ dtMin: 0 }),
    "nodes[1].mixer.dtMin",
    "a positive number",
    "0",
  );
});

Deno.test("schema: bias not a boolean", () => {
  assertOnlyIssue(
    withMixer({ bias: "yes" }),
    "nodes[1].mixer.bias",
    "true or false",
    `"yes"`,
  );
});

Deno.test("schema: unknown dtInit", () => {
  assertOnlyIssue(
    withMixer({ dtInit: "xavier" }),
    "nodes[1].mixer.dtInit",
    `one of "random", "constant"`,
    `"xavier"`,
  );
});

Deno.test("schema: unknown scan implementation", () => {
  assertOnlyIssue(
    withMixer({ scan: "cuda" }),
    "nodes[1].mixer.scan",
    `one of "auto", "chunked", "seed", "reference", "webgpu"`,
    `"cuda"`,
  );
});

Deno.test("schema: unknown node kind lists every kind", () => {
  assertOnlyIssue(
    withNodes([residual(), { kind: "conv" }]),
    "nodes[2].kind",
    `one of "embedding", "rms_norm", "layer_norm", "mamba", "mamba2", "residual", ` +
      `"dropout", "repeat", "lm_head", "classifier"`,
    `"conv"`,
  );
});

Deno.test("schema: node without kind", () => {
  const issues = issuesOf(withNodes([residual(), { rate: 0.1 }]));
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, "nodes[2].kind");
  assert.equal(issues[0].received, "undefined");
});

Deno.test("schema: node that is not an object", () => {
  assertOnlyIssue(
    withNodes([residual(), 3]),
    "nodes[2]",
    "an object",
    "3",
  );
});

Deno.test("schema: unknown norm kind inside a residual", () => {
  const node = {
    kind: "residual",
    norm: { kind: "batch_norm" },
    mixer: mamba(),
  };
  assertOnlyIssue(
    withNodes([node]),
    "nodes[1].norm.kind",
    `one of "rms_norm", "layer_norm"`,
    `"batch_norm"`,
  );
});

Deno.test("schema: mixer of another kind", () => {
  const node = { kind: "residual", norm: rmsNorm(), mixer: { kind: "s4" } };
  assertOnlyIssue(
    withNodes([node]),
    "nodes[1].mixer.kind",
    `one of "mamba", "mamba2"`,
    `"s4"`,
  );
});

Deno.test("schema: unknown key on a node names the key", () => {
  const emb = { ...embedding({ vocab: 32, dim: 16 }), vocabSize: 32 };
  assertOnlyIssue(
    { name: "t", nodes: [emb, residual(), lmHead()] },
    "nodes[0].vocabSize",
    `one of the keys "kind", "vocab", "dim", "padVocabMultiple"`,
    `unknown key "vocabSize"`,
  );
});

Deno.test("schema: unknown key in a mixer (HF spelling)", () => {
  assertOnlyIssue(
    withMixer({ d_state: 16 }),
    "nodes[1].mixer.d_state",
    `one of the keys "kind", "dState", "expand", "dConv", "dtRank", "bias", ` +
      `"convBias", "dtMin", "dtMax", "dtFloor", "dtScale", "dtInit", "scan", ` +
      `"bcdtRmsEps"`,
    `unknown key "d_state"`,
  );
});

Deno.test("schema: unknown key at the root", () => {
  assertOnlyIssue(
    withNodes([residual()], { layers: 4 }),
    "layers",
    `one of the keys "name", "seqLen", "nodes"`,
    `unknown key "layers"`,
  );
});

Deno.test("schema: unknown key in a classifier's hidden layer", () => {
  const head = {
    kind: "classifier",
    pooling: "mean",
    hidden: { units: 8, dropout: 0.1 },
    classes: 2,
    activation: "softmax",
  };
  assertOnlyIssue(
    { name: "t", nodes: [embedding({ vocab: 8, dim: 8 }), residual(), head] },
    "nodes[2].hidden.dropout",
    `one of the keys "units", "activation"`,
    `unknown key "dropout"`,
  );
});

Deno.test("schema: dropout rate 1.5", () => {
  assertOnlyIssue(
    withNodes([residual(), dropout(1.5)]),
    "nodes[2].rate",
    "a number in [0, 1)",
    "1.5",
  );
});

Deno.test("schema: dropout rate 1 and -0.1 are outside [0, 1)", () => {
  for (const rate of [1, -0.1]) {
    assertOnlyIssue(
      withNodes([residual(), dropout(rate)]),
      "nodes[2].rate",
      "a number in [0, 1)",
      String(rate),
    );
  }
});

Deno.test("schema: empty repeat body", () => {
  assertOnlyIssue(
    withNodes([residual(), repeat(3, [])]),
    "nodes[2].body",
    "a non-empty array of nodes",
    "an empty array",
  );
});

Deno.test("schema: non-integer repeat times", () => {
  assertOnlyIssue(
    withNodes([repeat(1.5, [residual()])]),
    "nodes[1].times",
    "a positive integer",
    "1.5",
  );
});

Deno.test("schema: repeat times 0", () => {
  assertOnlyIssue(
    withNodes([repeat(0, [residual()])]),
    "nodes[1].times",
    "a positive integer",
    "0",
  );
});

Deno.test("schema: paths go through repeat bodies", () => {
  assertOnlyIssue(
    withNodes([
      repeat(2, [dropout(0.1), residual({ mixer: mamba({ dtRank: -1 }) })]),
    ]),
    "nodes[1].body[1].mixer.dtRank",
    `"auto" or a positive integer`,
    "-1",
  );
});

Deno.test("schema: norm eps not positive", () => {
  assertOnlyIssue(
    withNodes([residual({ norm: layerNorm(-1e-5) })]),
    "nodes[1].norm.eps",
    "a positive number",
    "-0.00001",
  );
});

Deno.test("schema: missing vocab", () => {
  assertOnlyIssue(
    { name: "t", nodes: [{ kind: "embedding", dim: 8 }, residual(), lmHead()] },
    "nodes[0].vocab",
    "a positive integer",
    "undefined",
  );
});

Deno.test("schema: unknown pooling", () => {
  const head = {
    kind: "classifier",
    pooling: "max",
    classes: 1,
    activation: "sigmoid",
  };
  assertOnlyIssue(
    { name: "t", nodes: [embedding({ vocab: 8, dim: 8 }), residual(), head] },
    "nodes[2].pooling",
    `one of "last", "mean", "flatten"`,
    `"max"`,
  );
});

Deno.test("schema: classifier without activation", () => {
  const head = { kind: "classifier", pooling: "mean", classes: 1 };
  assertOnlyIssue(
    { name: "t", nodes: [embedding({ vocab: 8, dim: 8 }), residual(), head] },
    "nodes[2].activation",
    `one of "sigmoid", "softmax", "none"`,
    "undefined",
  );
});

Deno.test("schema: sigmoid classifier with 0 classes", () => {
  assertOnlyIssue(
    {
      name: "t",
      nodes: [
        embedding({ vocab: 8, dim: 8 }),
        residual(),
        classifier({ pooling: "last", classes: 0, activation: "sigmoid" }),
      ],
    },
    "nodes[2].classes",
    "a positive integer",
    "0",
  );
});

Deno.test("schema: seqLen 0", () => {
  assertOnlyIssue(
    withNodes([residual()], { seqLen: 0 }),
    "seqLen",
    "a positive integer",
    "0",
  );
});

Deno.test("schema: empty name", () => {
  assertOnlyIssue(
    { ...withNodes([residual()]), name: "" },
    "name",
    "a non-empty string",
    `""`,
  );
});

Deno.test("schema: nodes not an array", () => {
  assertOnlyIssue(
    { name: "t", nodes: "abc" },
    "nodes",
    "an array of nodes",
    `"abc"`,
  );
});

Deno.test("schema: root not an object", () => {
  assertOnlyIssue(3, "", "an object", "3");
});

Deno.test("schema: every issue is reported, in one error", () => {
  const issues = issuesOf(
    withNodes([
      residual({ mixer: mamba({ dState: -4, dConv: 0 }) }),
      dropout(2),
    ]),
  );
  assert.deepEqual(issues.map((i) => i.path), [
    "nodes[1].mixer.dState",
    "nodes[1].mixer.dConv",
    "nodes[2].rate",
  ]);
});

Deno.test("schema: a schema failure stops before the semantic rules", () => {
  // No embedding (a rule) and a negative dState (schema): only the latter.
  const issues = issuesOf({
    name: "t",
    nodes: [residual({ mixer: mamba({ dState: -4 }) }), lmHead()],
  });
  assert.deepEqual(issues.map((i) => i.path), ["nodes[0].mixer.dState"]);
});

Deno.test("schema: scan names match the kernels' ScanImpl; kinds match the union", () => {
  // Type-level: fails `deno check` if the two lists drift apart.
  type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
  const scanMatches: Same<MambaNode["scan"], ScanImpl> = true;
  assert.equal(scanMatches, true);
  assert.deepEqual(
    [...NODE_KINDS],
    NodeSchema.options.map((o) => o.shape.kind.value),
  );
});
