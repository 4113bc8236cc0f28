// Size limits: absurd sizes are refused at validation, before anything is
// allocated and without expanding repeats, naming the field, the size it
// implies and the limit; an option raises each limit. (The parameter counts
// are checked against the parameters buildModel makes in
// tests/model_sizes_test.ts.)
import assert from "node:assert/strict";
import {
  architecture,
  classifier,
  dropout,
  embedding,
  fromJSON,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
  toJSON,
  validateArchitecture,
} from "./builder.ts";
import { issuesOf } from "./_test_util.ts";
import { ArchitectureError } from "./errors.ts";
import { resolveArchitecture } from "./resolve.ts";
import type { ArchitectureInput, NodeInput } from "./schema.ts";
import { architectureSizes, DEFAULT_SIZE_LIMITS } from "./sizes.ts";
import mamba130m from "../examples/mamba_130m.ts";

const PARAMS = "a size that keeps the model within 4,000,000,000 parameters " +
  "(the maxParameters limit)";
const ACTIVATIONS = "a size that keeps every activation of one sequence " +
  "within 1,073,741,824 elements (the maxActivationElements limit)";
const NODES = "a size that keeps the model within 100,000 nodes once " +
  "repeats are expanded (the maxNodes limit)";

/** A byte LM around `body`. */
function lm(body: NodeInput[], dim = 64, seqLen?: number): ArchitectureInput {
  return {
    name: "t",
    ...(seqLen === undefined ? {} : { seqLen }),
    nodes: [embedding({ vocab: 256, dim }), ...body, rmsNorm(), lmHead()],
  };
}

/** Validates, which must fail fast, and returns "path: expected" per issue. */
function refused(value: unknown, limits = {}): string[] {
  const t0 = performance.now();
  try {
    validateArchitecture(value, limits);
  } catch (e) {
    assert.ok(e instanceof ArchitectureError, String(e));
    // Nothing was expanded or allocated: well under a second.
    assert.ok(performance.now() - t0 < 1000, "validation took over 1 s");
    return e.issues.map((i) => `${i.path}: ${i.expected} | ${i.received}`);
  }
  assert.fail("expected validation to fail");
}

Deno.test("sizes: Mamba-130m has 129,135,360 parameters, counted without building", () => {
  // Per layer: in_proj 2·1536·768 + conv 1536·4 + 1536 + x_proj (48+32)·1536
  // + dt_proj 1536·48 + 1536 + A_log 1536·16 + D 1536 + out_proj 768·1536
  // + norm 768 = 3,771,648; × 24 + embedding 50280·768 + norm_f 768.
  assert.deepEqual(architectureSizes(mamba130m), {
    parameters: 3_771_648 * 24 + 50280 * 768 + 768,
    activationElements: 50280, // the (1, v) logits of one token
    nodes: 27,
  });
});

Deno.test("sizes: repeat(1e9, ...) and nested repeats are refused at the repeat count", () => {
  assert.deepEqual(refused(lm([repeat(1e9, [residual()])])), [
    `nodes[1].times: ${PARAMS} | 1000000000, which makes 3.27e+13 parameters`,
    `nodes[1].times: ${NODES} | 1000000000, which makes 1,000,000,003 nodes`,
  ]);
  assert.deepEqual(
    refused(lm([repeat(1e4, [repeat(1e4, [residual()])])])),
    [
      `nodes[1].times: ${PARAMS} | 10000, which makes 3.27e+12 parameters`,
      `nodes[1].times: ${NODES} | 10000, which makes 100,000,003 nodes`,
    ],
  );
  // A body without parameters still expands to a billion plan steps.
  const json = JSON.stringify(lm([
    residual(),
    { kind: "repeat", times: 1e9, body: [{ kind: "dropout", rate: 0.1 }] },
  ]));
  assert.match(json, /"times":1000000000/);
  assert.deepEqual(refused(JSON.parse(json)), [
    `nodes[2].times: ${NODES} | 1000000000, which makes 1,000,000,004 nodes`,
  ]);
});

Deno.test("sizes: dim, dState, expand, dConv, padVocabMultiple, seqLen too large name their field", () => {
  const first = (value: unknown) => refused(value)[0];
  assert.equal(
    first(lm([residual()], 1e9)),
    `nodes[0].dim: ${PARAMS} | 1000000000, which makes 6.25e+18 parameters`,
  );
  assert.equal(
    first(lm([residual({ mixer: mamba({ dState: 1e9 }) })])),
    `nodes[1].mixer.dState: ${PARAMS} | 1000000000, which makes 384,000,043,008 parameters`,
  );
  assert.equal(
    first(lm([residual({ mixer: mamba({ expand: 1e9 }) })])),
    `nodes[1].mixer.expand: ${PARAMS} | 1000000000, which makes 1.63e+13 parameters`,
  );
  // Mamba-130m's shape with a conv width of a million.
  const wide = {
    ...mamba130m,
    nodes: mamba130m.nodes.map((n) =>
      n.kind === "repeat"
        ? repeat(n.times, [residual({ mixer: mamba({ dConv: 1e6 }) })])
        : n
    ),
  };
  assert.deepEqual(refused(wide), [
    `nodes[1].body[0].mixer.dConv: ${PARAMS} | 1000000, which makes 36,992,987,904 parameters`,
    `nodes[1].body[0].mixer.dConv: ${ACTIVATIONS} | 1000000, which makes an activation of 1,536,000,000 elements`,
  ]);
  assert.equal(
    first({
      name: "t",
      nodes: [
        embedding({ vocab: 256, dim: 64, padVocabMultiple: 1e9 }),
        residual(),
        lmHead(),
      ],
    }),
    `nodes[0].padVocabMultiple: ${PARAMS} | 1000000000, which makes 64,000,032,704 parameters`,
  );
  // seqLen only sizes activations: (seqLen, 2·dIn) inside the mixer.
  assert.deepEqual(refused(lm([residual()], 64, 1e9)), [
    `seqLen: ${ACTIVATIONS} | 1000000000, which makes an activation of 256,000,000,000 elements`,
  ]);
  // ... and a flatten classifier's parameters.
  assert.equal(
    first({
      name: "t",
      seqLen: 1e6,
      nodes: [
        embedding({ vocab: 256, dim: 64 }),
        residual(),
        classifier({
          pooling: "flatten",
          hidden: { units: 1e5 },
          classes: 2,
          activation: "softmax",
        }),
      ],
    }),
    `seqLen: ${PARAMS} | 1000000, which makes 6.40e+12 parameters`,
  );
});

Deno.test("sizes: a repeat nested 5000 deep, or a cyclic body, is refused without overflowing the stack", () => {
  let deep: NodeInput = residual();
  for (let i = 0; i < 5000; i++) deep = repeat(1, [deep]);
  const path = "nodes[1]" + ".body[0]".repeat(32);
  const tooDeep = "repeats nested at most 32 deep (the maxDepth limit) | " +
    "a repeat nested 33 deep";
  assert.deepEqual(refused(lm([deep])), [`${path}: ${tooDeep}`]);
  // The JSON form too (JSON.parse itself copes with 5000 levels).
  assert.deepEqual(refused(JSON.parse(JSON.stringify(lm([deep])))), [
    `${path}: ${tooDeep}`,
  ]);
  const cyclic = repeat(1, [residual()]);
  cyclic.body.push(cyclic);
  assert.deepEqual(refused(lm([cyclic])), [
    `${"nodes[1]" + ".body[1]".repeat(32)}: ${tooDeep}`,
  ]);
  // 32 deep is fine, and maxDepth raises the limit.
  let ok: NodeInput = residual();
  for (let i = 0; i < 32; i++) ok = repeat(1, [ok]);
  assert.equal(architectureSizes(architecture(lm([ok]))).nodes, 4);
  let deeper: NodeInput = residual();
  for (let i = 0; i < 40; i++) deeper = repeat(1, [deeper]);
  assert.equal(architecture(lm([deeper]), { maxDepth: 40 }).nodes.length, 4);
});

Deno.test("sizes: each limit is raised by its option, and checked itself", () => {
  const big = lm([repeat(4, [residual()])], 16384); // ≈ 6.4e9 parameters
  assert.equal(refused(big).length, 1);
  const arch = validateArchitecture(big, { maxParameters: 1e10 });
  assert.equal(
    architectureSizes(arch).parameters,
    // 4 × (dIn·(2d + k + (r + 2n) + r + 1 + n + 1 + d) + conv bias + norm)
    // + embedding + norm_f, with d 16384, dIn 32768, r 1024, n 16, k 4.
    4 * (32768 * (2 * 16384 + 4 + 1056 + 1024 + 1 + 16 + 1 + 16384) +
          32768 + 16384) + 256 * 16384 + 16384,
  );
  // The same option reaches the re-validation of resolveArchitecture ...
  assert.equal(
    resolveArchitecture(arch, { maxParameters: 1e10 }).layers.length,
    4,
  );
  assert.throws(() => resolveArchitecture(arch), ArchitectureError);
  // ... and of fromJSON; toJSON allocates nothing and writes it as it is.
  assert.deepEqual(fromJSON(toJSON(arch), { maxParameters: 1e10 }), arch);
  assert.throws(() => fromJSON(toJSON(arch)), /maxParameters/);

  const long = lm([residual()], 64, 2 ** 24); // (2^24, 256) in_proj output
  assert.deepEqual(refused(long), [
    `seqLen: ${ACTIVATIONS} | 16777216, which makes an activation of 4,294,967,296 elements`,
  ]);
  assert.equal(
    validateArchitecture(long, { maxActivationElements: 2 ** 32 }).seqLen,
    2 ** 24,
  );
  const many = lm([repeat(200_000, [dropout(0.1)]), residual()]);
  assert.equal(refused(many).length, 1);
  assert.equal(validateArchitecture(many, { maxNodes: 300_000 }).name, "t");

  for (const bad of [0, -1, NaN, "1e9"]) {
    assert.throws(
      () =>
        validateArchitecture(lm([residual()]), {
          maxParameters: bad as number,
        }),
      (e: Error) =>
        e instanceof RangeError &&
        e.message.startsWith(
          "maxParameters: expected a positive number, received",
        ),
    );
  }
  assert.deepEqual(DEFAULT_SIZE_LIMITS, {
    maxParameters: 4e9,
    maxActivationElements: 2 ** 30,
    maxNodes: 100_000,
    maxDepth: 32,
  });
});

Deno.test("sizes: a size issue comes only once the schema and rules pass", () => {
  // dState -4 is a schema error: no size issue is added to it.
  const issues = issuesOf(lm([residual({ mixer: mamba({ dState: -4 }) })]));
  assert.deepEqual(issues.map((i) => i.path), ["nodes[1].mixer.dState"]);
  assert.equal(issues[0].expected, "a positive integer");
});
