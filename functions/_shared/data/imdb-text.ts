// Turning reviews into fixed-length index sequences, as Keras' IMDB pipeline does, but keeping
// the word boundaries (the original service stripped every space and fed one token per review).
//
// - tokenize: lowercase, `<br />` tags become spaces, words are runs of letters (any script)
//   with inner apostrophes kept ("don't", "l'amour"); everything else separates words.
// - vocabulary: the most frequent training words, ties broken alphabetically (deterministic).
//   Index 0 = padding, 1 = start of review, 2 = out of vocabulary, words from 3 on; with
//   numWords = 10,000 (the default) indices are 0..9,999, so 9,997 words.
// - encode: [1, w1, w2, ...], then padded and truncated to maxLen (default 500) the Keras
//   `pad_sequences` way: zeros in front, and a long review keeps its LAST maxLen indices.
import { BadInputError } from '../errors.js';

export const PAD = 0;
export const START = 1;
export const OOV = 2;
export const FIRST_WORD_INDEX = 3;
export const DEFAULT_NUM_WORDS = 10_000;
export const DEFAULT_MAX_LEN = 500;

const BREAK_TAG = /<br\s*\/?>/gi;
const WORD = /\p{L}+(?:'\p{L}+)*/gu;

export function tokenize(text: string): string[] {
  return text.toLowerCase().replace(BREAK_TAG, ' ').match(WORD) ?? [];
}

export interface Vocabulary {
  /** words[i] has index i + FIRST_WORD_INDEX. */
  readonly words: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Embedding input size: FIRST_WORD_INDEX + words.length. */
  readonly size: number;
}

export function vocabularyFromWords(words: readonly string[]): Vocabulary {
  const index = new Map<string, number>();
  words.forEach((word, i) => {
    if (index.has(word)) throw new BadInputError(`vocabulary lists "${word}" twice`);
    index.set(word, i + FIRST_WORD_INDEX);
  });
  return { words, index, size: FIRST_WORD_INDEX + words.length };
}

/** The numWords - 3 most frequent words of the given token lists. */
export function buildVocabulary(documents: Iterable<readonly string[]>, numWords = DEFAULT_NUM_WORDS): Vocabulary {
  if (!Number.isInteger(numWords) || numWords <= FIRST_WORD_INDEX) {
    throw new BadInputError(`numWords must be an integer > ${FIRST_WORD_INDEX}, got ${numWords}`);
  }
  const counts = new Map<string, number>();
  for (const tokens of documents) for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  const ranked = [...counts].sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0));
  return vocabularyFromWords(ranked.slice(0, numWords - FIRST_WORD_INDEX).map(([word]) => word));
}

/** Index sequence of one review, written into `out` (length maxLen) or a new array. */
export function encodeTokens(
  tokens: readonly string[],
  vocab: Vocabulary,
  maxLen = DEFAULT_MAX_LEN,
  out: Int32Array = new Int32Array(maxLen),
): Int32Array {
  if (out.length !== maxLen) throw new BadInputError(`output has length ${out.length}, maxLen is ${maxLen}`);
  const full = tokens.length + 1;
  const kept = Math.min(full, maxLen);
  const pad = maxLen - kept;
  out.fill(PAD, 0, pad);
  // Position p of the output holds element (full - kept + p - pad) of [START, ...tokens].
  for (let p = pad, e = full - kept; p < maxLen; p++, e++) {
    out[p] = e === 0 ? START : (vocab.index.get(tokens[e - 1] ?? '') ?? OOV);
  }
  return out;
}

export function encodeText(text: string, vocab: Vocabulary, maxLen = DEFAULT_MAX_LEN): Int32Array {
  return encodeTokens(tokenize(text), vocab, maxLen);
}
