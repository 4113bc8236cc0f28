/**
 * The tfjs executor: runs a {@linkcode Program} op by op with tfjs ops
 * (`tfjs_ops.ts` and the node kinds' own `ops`), so tfjs autodiff
 * differentiates it. The path for cpu and wasm, and the oracle for the
 * other executors.
 *
 * @module
 */
import type { tf } from "../../kernels/backend.ts";
import type { Linear } from "../_layers.ts";
import { registeredOps } from "../nodes/registry.ts";
import { bindShape, type Program } from "./program.ts";
import { defaultLinear, TFJS_OPS, type TfjsOp } from "./tfjs_ops.ts";

/** Inputs of {@linkcode runTfjs}. */
export interface TfjsRunInputs {
  /** Token ids: int32 (b, l), or (b) for a step program. */
  ids: tf.Tensor;
  /** Parameters by Hugging Face name (the model's variables). */
  params: ReadonlyMap<string, tf.Tensor>;
  /** Step programs: the incoming state, one {conv, ssm} per layer. */
  state?: readonly { conv: tf.Tensor; ssm: tf.Tensor }[];
}

/** Options of {@linkcode runTfjs}. */
export interface TfjsRunOptions {
  /** Seed of dropout masks (train programs; default 0). */
  seed?: number;
  /** The `linear` op's implementation (default x · Wᵀ + bias). */
  linear?: Linear;
}

/** Outputs of {@linkcode runTfjs}. */
export interface TfjsRunOutputs {
  /** The program's output (logits or class probabilities). */
  output: tf.Tensor;
  /** Classifier heads: the scores before the final activation. */
  raw?: tf.Tensor;
  /** Prefill and step programs: the state after the last token. */
  state: { conv: tf.Tensor; ssm: tf.Tensor }[];
}

let opTable: Record<string, TfjsOp> | undefined;

/**
 * Runs a program with tfjs ops. Every intermediate tensor is left to the
 * caller's `tf.tidy`; every op's outputs are checked against the program's
 * shapes (bound to this call's b and l).
 *
 * @param program the lowered program.
 * @param inputs ids, parameters and (step) the state.
 * @param options dropout seed, `linear` override.
 * @returns the output, the raw scores (classifiers) and the state (prefill,
 *   step).
 * @throws when an op is unknown or computes a shape the program did not say.
 * @example
 * ```ts
 * import { tf } from "../../kernels/backend.ts";
 * import { buildModel } from "../model.ts";
 * import { lowerArchitecture } from "./lower.ts";
 * import { runTfjs } from "./tfjs_executor.ts";
 * import byteLm from "../../examples/byte_lm.ts";
 * const model = buildModel(byteLm);
 * const program = lowerArchitecture(model.resolved, "forward");
 * const ids = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * const { output } = runTfjs(program, { ids, params: model.params }); // (1, 3, 256)
 * ```
 */
export function runTfjs(
  program: Program,
  inputs: TfjsRunInputs,
  options: TfjsRunOptions = {},
): TfjsRunOutputs {
  opTable ??= { ...TFJS_OPS, ...registeredOps() };
  const b = inputs.ids.shape[0];
  const l = program.mode === "step" ? 1 : inputs.ids.shape[1] ?? 1;
  const env = {
    linear: options.linear ?? defaultLinear,
    seed: options.seed ?? 0,
  };
  const values = new Map<string, tf.Tensor>();
  values.set(program.ids.name, inputs.ids);
  for (const name of program.params.keys()) {
    const p = inputs.params.get(name);
    if (!p) throw new Error(`program: missing parameter ${name}`);
    values.set(name, p);
  }
  program.stateIn.forEach((bufs, layer) => {
    const s = inputs.state?.[layer];
    if (!s) throw new Error(`program: missing state of layer ${layer}`);
    values.set(bufs.conv.name, s.conv);
    values.set(bufs.ssm.name, s.ssm);
  });
  for (const op of program.ops) {
    const impl = opTable[op.op];
    if (!impl) {
      throw new Error(`program: no tfjs implementation of op ${op.op}`);
    }
    const args = op.inputs.map((name) =>
      name === null ? undefined : values.get(name)
    );
    const outs = impl(args, op.attrs, env);
    op.outputs.forEach((buf, i) => {
      const t = outs[i];
      const want = bindShape(buf.shape, b, l);
      if (!t || t.shape.join() !== want.join()) {
        throw new Error(
          `program: ${op.op} → ${buf.name}: expected shape [${want}], computed [${t?.shape}]`,
        );
      }
      values.set(buf.name, t);
    });
  }
  const get = (name: string) => values.get(name)!;
  return {
    output: get(program.output.name),
    ...(program.raw ? { raw: get(program.raw.name) } : {}),
    state: program.stateOut.map((s) => ({
      conv: get(s.conv.name),
      ssm: get(s.ssm.name),
    })),
  };
}
