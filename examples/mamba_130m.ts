/**
 * Mamba-130M: the architecture of `state-spaces/mamba-130m-hf`. 24 RMSNorm
 * blocks of width 768 (dInner 1536, dState 16, dConv 4, dtRank auto = 48),
 * vocabulary 50280 padded to a multiple of 8, final RMSNorm, LM head tied to
 * the embedding.
 *
 * Reference: HF `state-spaces/mamba-130m-hf` `config.json` (d_model 768,
 * n_layer 24, vocab_size 50280, pad_vocab_size_multiple 8,
 * layer_norm_epsilon 1e-5, tie_word_embeddings true).
 *
 * @module
 */
import {
  architecture,
  embedding,
  lmHead,
  mamba,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";

export default architecture({
  name: "mamba_130m",
  nodes: [
    embedding({ vocab: 50280, dim: 768, padVocabMultiple: 8 }),
    repeat(24, [
      residual({
        norm: rmsNorm(1e-5),
        mixer: mamba({ dState: 16, expand: 2, dConv: 4 }),
      }),
    ]),
    rmsNorm(1e-5),
    lmHead({ tied: true }),
  ],
});
