// Semantic rules (checked after the schema): one test per rule, each
// asserting the exact path and the expected/received parts.
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
import { assertOnlyIssue, issuesOf } from "./_test_util.ts";

const emb = () => embedding({ vocab: 32, dim: 16 });

Deno.test("rules: empty node list", () => {
  assertOnlyIssue(
    { name: "t", nodes: [] },
    "nodes",
    "an embedding first, residual blocks, and a head last",
    "an empty array",
  );
});

Deno.test("rules: missing embedding", () => {
  assertOnlyIssue(
    { name: "t", nodes: [residual(), lmHead()] },
    "nodes[0].kind",
    `"embedding" as the first node`,
    `"residual"`,
  );
});

Deno.test("rules: second embedding", () => {
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), emb(), lmHead()] },
    "nodes[2].kind",
    "exactly one embedding, as the first node",
    `"embedding"`,
  );
});

Deno.test("rules: embedding inside a repeat", () => {
  assertOnlyIssue(
    { name: "t", nodes: [emb(), repeat(2, [emb(), residual()]), lmHead()] },
    "nodes[1].body[0].kind",
    "exactly one embedding, as the first node",
    `"embedding"`,
  );
});

Deno.test("rules: last node is not a head", () => {
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), rmsNorm()] },
    "nodes[2].kind",
    `a head ("lm_head" or "classifier") as the last node`,
    `"rms_norm"`,
  );
});

Deno.test("rules: head not last", () => {
  const issues = issuesOf({ name: "t", nodes: [emb(), lmHead(), residual()] });
  assert.deepEqual(
    issues.map((i) => [i.path, i.expected, i.received]),
    [
      [
        "nodes[2].kind",
        `a head ("lm_head" or "classifier") as the last node`,
        `"residual"`,
      ],
      ["nodes[1].kind", "a head only as the last node", `"lm_head"`],
    ],
  );
});

Deno.test("rules: two heads", () => {
  const head = classifier({
    pooling: "mean",
    classes: 2,
    activation: "softmax",
  });
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), head, lmHead()] },
    "nodes[2].kind",
    "exactly one head (nodes[3] is the head)",
    `"classifier"`,
  );
});

Deno.test("rules: head inside a repeat", () => {
  assertOnlyIssue(
    { name: "t", nodes: [emb(), repeat(2, [residual(), lmHead()]), lmHead()] },
    "nodes[1].body[1].kind",
    "exactly one head (nodes[2] is the head)",
    `"lm_head"`,
  );
});

Deno.test("rules: no residual block", () => {
  assertOnlyIssue(
    {
      name: "t",
      nodes: [emb(), repeat(3, [dropout(0.1)]), rmsNorm(), lmHead()],
    },
    "nodes",
    "at least one residual block",
    "none",
  );
});

Deno.test("rules: a residual inside a repeat counts", () => {
  const arch = architecture({
    name: "t",
    nodes: [emb(), repeat(2, [repeat(2, [residual()])]), lmHead()],
  });
  assert.equal(arch.nodes.length, 3);
});

Deno.test("rules: a bare mamba node outside a residual", () => {
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), mamba(), lmHead()] },
    "nodes[2].kind",
    `a sequence node; a "mamba" mixer goes inside a residual`,
    `"mamba"`,
  );
});

Deno.test("rules: dtRank above dInner", () => {
  // dim 16, expand 2: dInner 32. 32 is fine, 33 is not.
  const ok = [
    emb(),
    repeat(2, [residual({ mixer: mamba({ dtRank: 32 }) })]),
    lmHead(),
  ];
  architecture({ name: "t", nodes: ok });
  assertOnlyIssue(
    {
      name: "t",
      nodes: [
        emb(),
        repeat(2, [residual({ mixer: mamba({ dtRank: 33 }) })]),
        lmHead(),
      ],
    },
    "nodes[1].body[0].mixer.dtRank",
    `"auto" or an integer <= dInner = 32 (expand 2 * dim 16)`,
    "33",
  );
});

Deno.test("rules: dtMin > dtMax", () => {
  assertOnlyIssue(
    {
      name: "t",
      nodes: [
        emb(),
        residual({ mixer: mamba({ dtMin: 0.5, dtMax: 0.1 }) }),
        lmHead(),
      ],
    },
    "nodes[1].mixer.dtMin",
    "a number <= dtMax (0.1)",
    "0.5",
  );
});

Deno.test("rules: dtFloor > dtMin", () => {
  assertOnlyIssue(
    {
      name: "t",
      nodes: [emb(), residual({ mixer: mamba({ dtFloor: 0.01 }) }), lmHead()],
    },
    "nodes[1].mixer.dtFloor",
    "a number <= dtMin (0.001)",
    "0.01",
  );
});

Deno.test("rules: flatten pooling without seqLen", () => {
  const head = classifier({
    pooling: "flatten",
    classes: 1,
    activation: "sigmoid",
  });
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), head] },
    "seqLen",
    `a positive integer, since nodes[2].pooling is "flatten"`,
    "undefined",
  );
  architecture({ name: "t", seqLen: 64, nodes: [emb(), residual(), head] });
});

Deno.test("rules: softmax with 1 class", () => {
  const head = classifier({
    pooling: "mean",
    classes: 1,
    activation: "softmax",
  });
  assertOnlyIssue(
    { name: "t", nodes: [emb(), residual(), head] },
    "nodes[2].classes",
    "at least 2 classes for softmax (sigmoid takes 1)",
    "1",
  );
});

Deno.test("rules: valid corner cases pass", () => {
  // sigmoid with 1 class, softmax with 2, norms anywhere after the
  // embedding, tied head with a padded vocabulary, dConv/dState/times 1.
  for (
    const head of [
      classifier({ pooling: "last", classes: 1, activation: "sigmoid" }),
      classifier({ pooling: "mean", classes: 2, activation: "softmax" }),
      lmHead({ tied: true }),
    ]
  ) {
    architecture({
      name: "t",
      nodes: [
        embedding({ vocab: 50277, dim: 16, padVocabMultiple: 8 }),
        layerNorm(),
        repeat(1, [
          rmsNorm(),
          residual({ mixer: mamba({ dConv: 1, dState: 1 }) }),
        ]),
        rmsNorm(),
        head,
      ],
    });
  }
});
