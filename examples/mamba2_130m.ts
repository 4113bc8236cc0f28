/**
 * Mamba-2 130M: the architecture of `state-spaces/mamba2-130m`. 24 RMSNorm
 * blocks of width 768 holding Mamba-2 mixers (dInner 1536 = 24 heads × head
 * dim 64, 1 group, dState 128, dConv 4, chunk 256), vocabulary 50277 padded
 * to a multiple of 16 (50288), final RMSNorm, LM head tied to the
 * embedding: 128,989,632 parameters.
 *
 * Reference: state-spaces/mamba2-130m `config.json` (d_model 768,
 * n_layer 24, vocab_size 50277, ssm_cfg {layer: "Mamba2"},
 * pad_vocab_size_multiple 16, tie_embeddings true); state-spaces/mamba
 * `modules/mamba2.py` defaults (headdim 64, ngroups 1, d_state 128, chunk
 * 256).
 *
 * @module
 */
import {
  architecture,
  embedding,
  lmHead,
  mamba2,
  repeat,
  residual,
  rmsNorm,
} from "../dsl/builder.ts";

export default architecture({
  name: "mamba2_130m",
  nodes: [
    embedding({ vocab: 50277, dim: 768, padVocabMultiple: 16 }),
    repeat(24, [
      residual({
        norm: rmsNorm(1e-5),
        mixer: mamba2({
          headDim: 64,
          groups: 1,
          dState: 128,
          expand: 2,
          dConv: 4,
          chunkSize: 256,
        }),
      }),
    ]),
    rmsNorm(1e-5),
    lmHead({ tied: true }),
  ],
});
