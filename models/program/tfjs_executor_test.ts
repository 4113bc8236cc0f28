/**
 * The tfjs executor: shape checks name the buffer, unknown ops and missing
 * inputs fail by name, and tfjs autodiff reaches every parameter through a
 * train program.
 */
import assert from "node:assert/strict";
import { setBackend, tf } from "../../kernels/backend.ts";
import byteLm from "../../examples/byte_lm.ts";
import { buildModel } from "../model.ts";
import { lowerArchitecture } from "./lower.ts";
import type { Program } from "./program.ts";
import { runTfjs } from "./tfjs_executor.ts";

await setBackend("cpu");
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test(
  "bad programs and inputs fail naming the buffer, op or parameter",
  opts,
  () => {
    const model = buildModel(byteLm, { seed: 0 });
    const program = lowerArchitecture(model.resolved, "forward");
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
    tf.tidy(() => {
      const out = runTfjs(program, { ids, params: model.params }).output;
      assert.deepEqual(out.shape, [1, 3, 256]);
    });
    const wrongShape: Program = {
      ...program,
      ops: program.ops.map((op, i) =>
        i === 2
          ? { ...op, outputs: [{ ...op.outputs[0], shape: ["b", "l", 7] }] }
          : op
      ),
    };
    const name = program.ops[2].outputs[0].name;
    assert.throws(
      () =>
        tf.tidy(() =>
          runTfjs(wrongShape, { ids, params: model.params }).output
        ),
      new RegExp(
        `program: ${program.ops[2].op} → ${
          name.replaceAll(".", "\\.")
        }: expected shape \\[1,3,7\\], computed \\[1,3,`,
      ),
    );
    const unknown: Program = {
      ...program,
      ops: [{ ...program.ops[0], op: "nope" }],
    };
    assert.throws(
      () => runTfjs(unknown, { ids, params: model.params }),
      /no tfjs implementation of op nope/,
    );
    assert.throws(
      () => runTfjs(program, { ids, params: new Map() }),
      /program: missing parameter backbone\.embeddings\.weight/,
    );
    const step = lowerArchitecture(model.resolved, "step");
    assert.throws(
      () =>
        runTfjs(step, { ids: tf.tensor1d([1], "int32"), params: model.params }),
      /program: missing state of layer 0/,
    );
    model.dispose();
  },
);

Deno.test(
  "tfjs autodiff reaches every parameter through a train program",
  opts,
  () => {
    const model = buildModel(byteLm, { seed: 0 });
    const program = lowerArchitecture(model.resolved, "train");
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], "int32");
    const names = [...model.params.keys()];
    const { grads } = tf.variableGrads(
      () =>
        tf.sum(
          tf.square(
            runTfjs(program, { ids, params: model.params }, { seed: 1 }).output,
          ),
        ) as tf.Scalar,
      [...model.params.values()],
    );
    for (const [i, v] of [...model.params.values()].entries()) {
      const g = grads[v.name];
      assert.ok(g, `gradient of ${names[i]}`);
      assert.ok(
        tf.max(tf.abs(g)).dataSync()[0] > 0,
        `nonzero gradient of ${names[i]}`,
      );
    }
    model.dispose();
  },
);
