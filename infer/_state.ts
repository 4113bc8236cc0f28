/**
 * Private: batch bookkeeping on recurrent states. A state is per layer
 * {conv (b, k-1, dIn), ssm (b, dIn, n)}; rows are independent sequences, so
 * joining, reordering and dropping sequences are concat / gather on axis 0.
 *
 * @module
 */
import { tf } from "../kernels/backend.ts";
import type { ModelState } from "../models/types.ts";

/** Frees every tensor of a state. */
export function disposeState(state: ModelState): void {
  for (const layer of state.layers) {
    layer.conv.dispose();
    layer.ssm.dispose();
  }
}

/**
 * Stacks states along the batch axis (the inputs are left intact).
 * @param states states of batch b₁, b₂, … with equal layer shapes.
 * @returns a state of batch b₁ + b₂ + ….
 */
export function concatStates(states: ModelState[]): ModelState {
  if (states.length === 1) return cloneState(states[0]);
  return {
    layers: states[0].layers.map((_, i) => ({
      conv: tf.concat(states.map((s) => s.layers[i].conv), 0), // (Σb, k-1, dIn)
      ssm: tf.concat(states.map((s) => s.layers[i].ssm), 0), // (Σb, dIn, n)
    })),
  };
}

/**
 * Picks rows of a state (the input is left intact).
 * @param state a state of batch b.
 * @param rows row indices into [0, b), repeats allowed (beam search).
 * @returns a state of batch rows.length.
 */
export function gatherState(state: ModelState, rows: number[]): ModelState {
  return tf.tidy(() => {
    const index = tf.tensor1d(rows, "int32");
    return {
      layers: state.layers.map((layer) => ({
        conv: tf.gather(layer.conv, index), // (rows, k-1, dIn)
        ssm: tf.gather(layer.ssm, index), // (rows, dIn, n)
      })),
    };
  });
}

function cloneState(state: ModelState): ModelState {
  return {
    layers: state.layers.map((l) => ({
      conv: tf.clone(l.conv),
      ssm: tf.clone(l.ssm),
    })),
  };
}
