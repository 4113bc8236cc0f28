/**
 * Private, tests only: a small deterministic stand-in for a Mamba LM that
 * honours the {@linkcode MambaModel} contract with tfjs ops, so that decoding
 * logic is tested without depending on the real model's numerics.
 *
 * Its state is real recurrent state: conv holds the last k-1 tokens (as
 * floats) and ssm a decayed running sum, and the logits depend on both, so a
 * state mix-up between rows or steps changes the tokens.
 *
 * logits(b, :) = W[token] + sin(ssm · (1..v)) + 0.5 · cos(conv[0] · (1..v) / v)
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import { Rng } from "../models/_rng.ts";
import type { MambaModel, ModelState, TokenIds } from "../models/types.ts";

const K = 4;

/**
 * @param vocab vocabulary size.
 * @param seed seed of the bigram table.
 * @param scale spread of the bigram logits (larger: peakier distributions).
 * @returns a fake LM-head model.
 */
export function fakeModel(vocab = 16, seed = 1, scale = 3): MambaModel {
  const rng = new Rng(seed);
  const table = tf.tensor2d(
    Array.from({ length: vocab * vocab }, () => rng.normal(0, scale)),
    [vocab, vocab],
  ); // (v, v)
  const positions = tf.range(1, vocab + 1).reshape([1, vocab]); // (1, v)

  const initialState = (batch: number): ModelState => ({
    layers: [{
      conv: tf.zeros([batch, K - 1, 1]) as tf.Tensor3D,
      ssm: tf.zeros([batch, 1, 1]) as tf.Tensor3D,
    }],
  });

  const step = (ids: number[] | tf.Tensor1D, state: ModelState) =>
    tf.tidy(() => {
      const tok = (Array.isArray(ids) ? tf.tensor1d(ids, "int32") : ids)
        .toInt(); // (b)
      const b = tok.shape[0];
      const { conv, ssm } = state.layers[0];
      const x = tok.toFloat().reshape([b, 1, 1]); // (b, 1, 1)
      const newConv = tf.concat(
        [conv.slice([0, 1, 0], [b, K - 2, 1]), x],
        1,
      ) as tf.Tensor3D; // (b, k-1, 1)
      const newSsm = ssm.mul(0.5).add(x.div(vocab)) as tf.Tensor3D; // (b, 1, 1)
      const logits = tf.gather(table, tok) // (b, v)
        .add(tf.sin(newSsm.reshape([b, 1]).mul(positions)))
        .add(
          tf.cos(
            newConv.slice([0, 0, 0], [b, 1, 1]).reshape([b, 1])
              .mul(positions).div(vocab),
          ).mul(0.5),
        ) as tf.Tensor2D;
      return {
        logits,
        state: { layers: [{ conv: newConv, ssm: newSsm }] },
      };
    });

  const prefill = (ids: TokenIds) => {
    const rows = Array.isArray(ids) ? ids : ids.arraySync() as number[][];
    const b = rows.length;
    let state = initialState(b);
    const all: tf.Tensor2D[] = [];
    for (let t = 0; t < rows[0].length; t++) {
      const out = step(rows.map((r) => r[t]), state);
      for (const l of state.layers) tf.dispose([l.conv, l.ssm]);
      state = out.state;
      all.push(out.logits);
    }
    const logits = tf.stack(all, 1) as tf.Tensor3D; // (b, l, v)
    tf.dispose(all);
    return { logits, state };
  };

  return {
    architecture: {
      name: "fake",
      nodes: [{ kind: "lm_head", tied: true }],
    } as unknown as MambaModel["architecture"],
    resolved: {
      vocab,
      paddedVocab: vocab,
      dModel: 1,
      layers: [],
    } as unknown as MambaModel["resolved"],
    params: new Map(),
    forward: (ids) => {
      const { logits, state } = prefill(ids);
      for (const l of state.layers) tf.dispose([l.conv, l.ssm]);
      return logits;
    },
    prefill,
    step,
    initialState,
    dispose: () => tf.dispose([table, positions]),
  };
}
