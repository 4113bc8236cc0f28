/**
 * Private test helper: the tiny architectures and the spam/meeting CSV the
 * training tests write, in a temporary folder removed when the test module
 * ends (pass or fail).
 *
 * @module
 */
import { tempDirForModule } from "./_temp_dir.ts";

/** One residual Mamba-1 layer (dim 8, dState 4) as DSL node data. */
const tinyBlock = () => ({
  kind: "repeat",
  times: 1,
  body: [{
    kind: "residual",
    norm: { kind: "rms_norm" },
    mixer: { kind: "mamba", dState: 4 },
  }],
});

/**
 * A one-layer binary classifier (last-position pooling, sigmoid), seqLen 16.
 *
 * @param name the architecture's name
 * @param vocab the embedding's vocabulary size
 * @returns plain JSON-ready architecture data
 */
export function tinyClassifierArch(name: string, vocab = 256) {
  return {
    name,
    seqLen: 16,
    nodes: [
      { kind: "embedding", vocab, dim: 8 },
      tinyBlock(),
      { kind: "rms_norm" },
      {
        kind: "classifier",
        pooling: "last",
        classes: 1,
        activation: "sigmoid",
      },
    ],
  };
}

/**
 * A one-layer byte language model with a tied head (no seqLen).
 *
 * @param name the architecture's name
 * @returns plain JSON-ready architecture data
 */
export function tinyLmArch(name: string) {
  return {
    name,
    nodes: [
      { kind: "embedding", vocab: 256, dim: 8 },
      tinyBlock(),
      { kind: "rms_norm" },
      { kind: "lm_head", tied: true },
    ],
  };
}

/**
 * `text,label` CSV of 40 rows: odd rows "win money now i" (label 1), even
 * rows "meeting at i pm" (label 0).
 */
export const SPAM_CSV = "text,label\n" +
  Array.from(
    { length: 40 },
    (_, i) => `${i % 2 ? `win money now ${i}` : `meeting at ${i} pm`},${i % 2}`,
  ).join("\n");

/**
 * Writes `tiny.json` (tinyClassifierArch) and `data.csv` (SPAM_CSV) into a
 * temporary folder removed when the module unloads.
 *
 * @param name the architecture's name, also the folder's prefix
 * @returns the folder and the two files' paths
 */
export async function writeTinyClassifierRun(
  name: string,
): Promise<{ dir: string; arch: string; csv: string }> {
  const dir = await tempDirForModule(`${name}_`);
  const arch = `${dir}/tiny.json`;
  await Deno.writeTextFile(arch, JSON.stringify(tinyClassifierArch(name)));
  const csv = `${dir}/data.csv`;
  await Deno.writeTextFile(csv, SPAM_CSV);
  return { dir, arch, csv };
}
