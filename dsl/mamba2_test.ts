/**
 * The DSL's Mamba-2 mixer and Falcon-Mamba field: HF `Mamba2Config`
 * defaults, derived sizes, mixed stacks in one node list, JSON round trip,
 * parameter counts against the parameters `buildModel` makes, and the
 * bad-input errors of issue 14 §5 — each naming the field, thrown before
 * any tensor exists.
 */
import assert from "node:assert/strict";
import { tf } from "../kernels/backend.ts";
import {
  architecture,
  embedding,
  fromJSON,
  lmHead,
  mamba,
  mamba2,
  repeat,
  residual,
  rmsNorm,
  toJSON,
  validateArchitecture,
} from "./builder.ts";
import { resolveArchitecture } from "./resolve.ts";
import { architectureSizes } from "./sizes.ts";
import type { MixerNodeInput } from "./schema.ts";
import { assertOnlyIssue, issuesOf } from "./_test_util.ts";
import { buildModel } from "../models/model.ts";

/** An LM with one residual per mixer, width 64. */
const lm = (...mixers: MixerNodeInput[]) => ({
  name: "t",
  nodes: [
    embedding({ vocab: 32, dim: 64 }),
    ...mixers.map((mixer) => residual({ mixer })),
    rmsNorm(),
    lmHead(),
  ],
});
const small = { headDim: 16, groups: 2, dState: 8, chunkSize: 8 };

Deno.test("mamba2: defaults are HF Mamba2Config's", () => {
  const arch = validateArchitecture(lm(mamba2({ groups: 2 })));
  const node = arch.nodes[1];
  assert.ok(node.kind === "residual");
  assert.deepEqual(node.mixer, {
    kind: "mamba2",
    heads: "auto",
    headDim: 64,
    groups: 2,
    dState: 128,
    expand: 2,
    dConv: 4,
    chunkSize: 256,
    bias: false,
    convBias: true,
    dtMin: 0.001,
    dtMax: 0.1,
    dtFloor: 1e-4,
    dtLimit: [0, null],
    norm: "official",
    normEps: 1e-5,
  });
});

Deno.test("mamba2: resolved sizes (heads auto = dIn / headDim, conv width dIn + 2gn)", () => {
  const r = resolveArchitecture(architecture(lm(mamba2(small))));
  const m = r.layers[0].mixer;
  assert.ok(m.kind === "mamba2");
  assert.equal(m.dInner, 128);
  assert.equal(m.headsValue, 8);
  assert.equal(m.convDim, 128 + 2 * 2 * 8);
});

Deno.test("mamba2: one node list mixes Mamba-1, Falcon-Mamba and Mamba-2 layers", () => {
  const r = resolveArchitecture(architecture({
    name: "mixed",
    nodes: [
      embedding({ vocab: 32, dim: 64 }),
      repeat(2, [
        residual({ mixer: mamba({ dState: 4 }) }),
        residual({ mixer: mamba2(small) }),
      ]),
      residual({ mixer: mamba({ bcdtRmsEps: 1e-6 }) }),
      rmsNorm(),
      lmHead(),
    ],
  }));
  assert.deepEqual(r.layers.map((l) => l.mixer.kind), [
    "mamba",
    "mamba2",
    "mamba",
    "mamba2",
    "mamba",
  ]);
  const falcon = r.layers[4].mixer;
  assert.equal(falcon.kind === "mamba" && falcon.bcdtRmsEps, 1e-6);
});

Deno.test("mamba2: JSON round trip keeps every field (dtLimit's open end as null)", () => {
  const arch = architecture(
    lm(mamba2({ ...small, dtLimit: [0.01, null], norm: "transformers" })),
  );
  assert.deepEqual(fromJSON(toJSON(arch)), arch);
  const bounded = architecture(lm(mamba2({ ...small, dtLimit: [0, 0.5] })));
  assert.deepEqual(fromJSON(toJSON(bounded)), bounded);
});

Deno.test("mamba2 and Falcon-Mamba: parameter counts equal the parameters buildModel makes", () => {
  for (
    const arch of [
      lm(mamba2(small)),
      lm(mamba2({ ...small, bias: true, convBias: false })),
      lm(mamba({ bcdtRmsEps: 1e-6, dState: 4 }), mamba2(small)),
    ]
  ) {
    const a = architecture(arch);
    const model = buildModel(a);
    let count = 0;
    for (const p of model.params.values()) count += p.size;
    model.dispose();
    assert.equal(architectureSizes(a).parameters, count);
  }
});

Deno.test("mamba2 bad input: heads × headDim ≠ expand × dim names heads", () => {
  assertOnlyIssue(
    lm(mamba2({ ...small, heads: 4 })),
    "nodes[1].mixer.heads",
    "heads * headDim = dInner (expand 2 * dim 64 = 128)",
    "4 * 16 = 64",
  );
});

Deno.test("mamba2 bad input: heads auto with a head dim not dividing dInner names headDim", () => {
  assertOnlyIssue(
    lm(mamba2({ ...small, headDim: 48, groups: 1 })),
    "nodes[1].mixer.headDim",
    'a divisor of dInner (expand 2 * dim 64 = 128), since heads is "auto"',
    "48",
  );
});

Deno.test("mamba2 bad input: groups not dividing heads names groups", () => {
  assertOnlyIssue(
    lm(mamba2({ ...small, groups: 3 })),
    "nodes[1].mixer.groups",
    "a divisor of the 8 heads",
    "3",
  );
});

Deno.test("mamba2 bad input: chunk size 0, a bad time-step limit, a bare mixer", () => {
  assertOnlyIssue(
    lm(mamba2({ ...small, chunkSize: 0 })),
    "nodes[1].mixer.chunkSize",
    "a positive integer",
    "0",
  );
  assertOnlyIssue(
    lm(mamba2({ ...small, dtLimit: [0.5, 0.1] })),
    "nodes[1].mixer.dtLimit",
    "[lo, hi] with lo <= hi",
    "[0.5,0.1]",
  );
  assertOnlyIssue(
    lm(mamba({ bcdtRmsEps: -1 })),
    "nodes[1].mixer.bcdtRmsEps",
    "a positive number",
    "-1",
  );
  const bare = {
    name: "t",
    nodes: [embedding({ vocab: 8, dim: 64 }), residual(), mamba2(), lmHead()],
  };
  const issues = issuesOf(bare);
  assert.deepEqual(issues.map((i) => i.path), ["nodes[2].kind"]);
  assert.match(issues[0].expected, /"mamba2" mixer goes inside a residual/);
});

Deno.test("mamba2 bad input: buildModel throws before any tensor is made", () => {
  const before = tf.memory().numTensors;
  assert.throws(
    () => buildModel(lm(mamba2({ ...small, groups: 3 }))),
    /nodes\[1\]\.mixer\.groups: expected a divisor of the 8 heads, received 3/,
  );
  assert.throws(
    () => buildModel(lm(mamba2({ ...small, heads: 3 }))),
    /nodes\[1\]\.mixer\.heads/,
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("example mamba2_130m: 128,989,632 parameters (issue 14's figure for the official 130m), JSON twin in sync", async () => {
  const { default: arch } = await import("../examples/mamba2_130m.ts");
  assert.equal(architectureSizes(arch).parameters, 128_989_632);
  const text = await Deno.readTextFile(
    new URL("../examples/mamba2_130m.json", import.meta.url),
  );
  assert.equal(text, toJSON(arch));
  assert.deepEqual(fromJSON(text), arch);
});

Deno.test("mamba2 size limits: a huge dState is refused naming the field, before any tensor", () => {
  const before = tf.memory().numTensors;
  const issues = issuesOf(lm(mamba2({ ...small, dState: 1e8 })));
  assert.ok(
    issues.some((i) => i.path === "nodes[1].mixer.dState"),
    JSON.stringify(issues),
  );
  assert.equal(tf.memory().numTensors, before);
});
