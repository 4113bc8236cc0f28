/**
 * The lowering pass: programs for every mode and example architecture, with
 * every buffer defined once before it is read and every op known to the
 * tfjs executor; the ops a Mamba layer lowers to; states; head rules.
 */
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
} from "../../dsl/builder.ts";
import { resolveArchitecture } from "../../dsl/resolve.ts";
import byteLm from "../../examples/byte_lm.ts";
import mamba130m from "../../examples/mamba_130m.ts";
import spam from "../../examples/spam_classifier.ts";
import imdb from "../../examples/imdb_classifier.ts";
import { registeredOps } from "../nodes/registry.ts";
import { parameterSpecs } from "../init.ts";
import { lowerArchitecture } from "./lower.ts";
import { formatProgram, type Mode, type Program } from "./program.ts";
import { TFJS_OPS } from "./tfjs_ops.ts";

const smallLm = architecture({
  name: "small",
  nodes: [
    embedding({ vocab: 50, dim: 16 }),
    repeat(2, [
      residual({
        norm: layerNorm(),
        mixer: mamba({ dState: 4, bias: true, convBias: true }),
      }),
      dropout(0.1),
    ]),
    dropout(0),
    rmsNorm(),
    dropout(0.2),
    lmHead({ tied: false }),
  ],
});

function checkWellFormed(program: Program): void {
  const defined = new Set<string>([program.ids.name, ...program.params.keys()]);
  for (const s of program.stateIn) {
    defined.add(s.conv.name);
    defined.add(s.ssm.name);
  }
  const known = { ...TFJS_OPS, ...registeredOps() };
  for (const op of program.ops) {
    assert.ok(op.op in known, `op ${op.op} has a tfjs implementation`);
    for (const input of op.inputs) {
      if (input !== null) {
        assert.ok(defined.has(input), `${input} defined before ${op.op}`);
      }
    }
    for (const out of op.outputs) {
      assert.ok(!defined.has(out.name), `${out.name} defined once`);
      defined.add(out.name);
    }
  }
  assert.ok(defined.has(program.output.name));
}

Deno.test("every example lowers in every mode it supports, well formed", () => {
  const mixed = architecture({
    name: "mixed",
    nodes: [
      embedding({ vocab: 50, dim: 32 }),
      residual({ mixer: mamba({ dState: 4, bcdtRmsEps: 1e-6 }) }),
      residual({
        mixer: {
          kind: "mamba2",
          headDim: 16,
          dState: 8,
          chunkSize: 8,
          groups: 1,
        },
      } as never),
      rmsNorm(),
      lmHead({ tied: true }),
    ],
  });
  for (const arch of [smallLm, byteLm, mamba130m, spam, imdb, mixed]) {
    const resolved = resolveArchitecture(arch);
    const lm = resolved.head.kind === "lm_head";
    const modes: Mode[] = lm
      ? ["forward", "train", "prefill", "step"]
      : ["forward", "train"];
    const specs = parameterSpecs(resolved);
    for (const mode of modes) {
      const program = lowerArchitecture(resolved, mode);
      checkWellFormed(program);
      // Every parameter is read (a parameter no op reads would be a bug).
      assert.deepEqual(
        [...program.params.keys()].sort(),
        [...specs.keys()].sort(),
        `${arch.name} ${mode}`,
      );
      for (const [name, shape] of program.params) {
        assert.deepEqual(shape, specs.get(name)!.shape);
      }
    }
  }
});

Deno.test("a Mamba layer lowers to the mixer's ops, in order", () => {
  const resolved = resolveArchitecture(smallLm);
  const opsOf = (mode: Mode) =>
    lowerArchitecture(resolved, mode).ops
      .filter((op) => op.outputs[0].name.startsWith("layers.0."))
      .map((op) => op.op);
  const common = ["linear", "slice_last"];
  const tail = [
    "linear",
    "slice_last",
    "slice_last",
    "slice_last",
    "linear",
    "neg_exp",
  ];
  assert.deepEqual(opsOf("forward"), [
    "norm",
    ...common,
    "causal_conv_silu",
    ...tail,
    "selective_scan",
    "linear",
    "add",
  ]);
  assert.deepEqual(opsOf("step"), [
    "norm",
    ...common,
    "slice_last",
    "conv_silu_step",
    ...tail,
    "scan_step",
    "linear",
    "add",
  ]);
  const text = formatProgram(lowerArchitecture(resolved, "forward"));
  assert.match(
    text,
    /layers\.0\.mixer\.xz \[b,l,64\] = linear\(layers\.0\.normed, backbone\.layers\.0\.mixer\.in_proj\.weight, backbone\.layers\.0\.mixer\.in_proj\.bias\)/,
  );
  assert.match(
    text,
    /lm_head\.logits \[b,l,50\] = matmul_t\(norm_f\.y, lm_head\.weight\)/,
  );
});

Deno.test("modes: dropout only in train, state in prefill and step, lastOnly", () => {
  const resolved = resolveArchitecture(smallLm);
  const count = (p: Program, op: string) =>
    p.ops.filter((o) => o.op === op).length;
  const forward = lowerArchitecture(resolved, "forward");
  const train = lowerArchitecture(resolved, "train");
  assert.equal(count(forward, "dropout"), 0);
  // Rate-0 dropout emits nothing but keeps its place in the seed sequence.
  assert.deepEqual(
    train.ops.filter((o) => o.op === "dropout").map((o) => o.attrs.index),
    [0, 1, 3],
  );
  assert.equal(forward.stateIn.length + forward.stateOut.length, 0);
  const prefill = lowerArchitecture(resolved, "prefill");
  assert.equal(prefill.stateIn.length, 0);
  assert.deepEqual(prefill.stateOut.map((s) => [s.conv.shape, s.ssm.shape]), [
    [["b", 3, 32], ["b", 32, 4]],
    [["b", 3, 32], ["b", 32, 4]],
  ]);
  const step = lowerArchitecture(resolved, "step");
  assert.deepEqual(step.ids.shape, ["b"]);
  assert.deepEqual(step.stateIn.map((s) => s.ssm.name), [
    "state.0.ssm",
    "state.1.ssm",
  ]);
  assert.deepEqual(step.output.shape, ["b", 50]);
  assert.equal(count(prefill, "last_position"), 0);
  const last = lowerArchitecture(resolved, "prefill", { lastOnly: true });
  assert.equal(count(last, "last_position"), 1);
  assert.deepEqual(last.output.shape, ["b", 1, 50]);
  // lastOnly means nothing outside prefill.
  assert.equal(
    lowerArchitecture(resolved, "forward", { lastOnly: true }).lastOnly,
    false,
  );
});

Deno.test("classifier heads: raw scores, and no prefill or step", () => {
  const arch = architecture({
    name: "cls",
    seqLen: 6,
    nodes: [
      embedding({ vocab: 20, dim: 8 }),
      residual(),
      classifier({
        pooling: "flatten",
        classes: 3,
        activation: "softmax",
        hidden: { units: 5, activation: "gelu" },
      }),
    ],
  });
  const resolved = resolveArchitecture(arch);
  const program = lowerArchitecture(resolved, "forward");
  assert.deepEqual(program.output.shape, ["b", 3]);
  assert.equal(program.raw?.name, "classifier.scores");
  assert.deepEqual(program.ops.find((o) => o.op === "pool")?.outputs[0].shape, [
    "b",
    48,
  ]);
  assert.throws(
    () => lowerArchitecture(resolved, "step"),
    /step: needs an lm_head model, this architecture ends in "classifier"/,
  );
});
