// IMDB reviews in the aclImdb folder layout, read through any Store, and their encoding:
//   <root>/train/pos/<id>_<rating>.txt   <root>/train/neg/...   <root>/test/pos/...   <root>/test/neg/...
// pos = label 1 (ratings 7–10), neg = label 0 (ratings 1–4); other files (unsup/, urls_*.txt,
// imdb.vocab) are ignored. The vocabulary is built from the training reviews only.
// Each set is put in a fixed order (class and id, then a seeded permutation) so any prefix mixes both classes.
import { BadInputError } from '../errors.js';
import { buildVocabulary, DEFAULT_MAX_LEN, DEFAULT_NUM_WORDS, encodeTokens, tokenize } from './imdb-text.js';
import { permutation } from './random.js';
import type { StoreReader, TextDataset, TokenSet } from './types.js';

export interface Review {
  readonly id: number;
  readonly rating: number;
  /** 1 = positive, 0 = negative. */
  readonly label: 0 | 1;
  readonly text: string;
}

export interface ReviewCorpus {
  readonly train: readonly Review[];
  readonly test: readonly Review[];
}

export interface TextOptions {
  /** Vocabulary size including the 3 reserved indices (default 10,000). */
  numWords?: number;
  /** Length of every encoded review (default 500). */
  maxLen?: number;
}

const REVIEW_FILE = /\/(\d+)_(\d+)\.txt$/;
const ORDER_SEED = 0x494d4442; // "IMDB"
const READ_CONCURRENCY = 32;
/** Longest review file accepted (aclImdb's longest is ~14 kB). */
const MAX_REVIEW_BYTES = 1 << 20;

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const queue = items.entries(); // shared by the workers: each takes the next item
  const worker = async (): Promise<void> => {
    for (const [i, item] of queue) results[i] = await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function readClass(store: StoreReader, folder: string, label: 0 | 1): Promise<Review[]> {
  const files = (await store.list(folder))
    .map((url) => ({ url, match: REVIEW_FILE.exec(url) }))
    .filter((f) => f.match !== null && f.url.slice(folder.length).indexOf('/') === -1)
    .map(({ url, match }) => ({ url, id: Number(match?.[1]), rating: Number(match?.[2]) }))
    .sort((a, b) => a.id - b.id);
  const decoder = new TextDecoder('utf-8');
  return mapLimited(files, READ_CONCURRENCY, async ({ url, id, rating }) => ({
    id,
    rating,
    label,
    text: decoder.decode(await store.read(url, { maxBytes: MAX_REVIEW_BYTES })),
  }));
}

async function readSplit(store: StoreReader, root: string, split: 'train' | 'test'): Promise<Review[]> {
  const [pos, neg] = await Promise.all([
    readClass(store, `${root}${split}/pos/`, 1),
    readClass(store, `${root}${split}/neg/`, 0),
  ]);
  if (pos.length === 0 || neg.length === 0) {
    throw new BadInputError(
      `${root}${split}: needs reviews in both pos/ and neg/ (found ${pos.length} and ${neg.length})`,
    );
  }
  return [...pos, ...neg];
}

export async function readAclImdb(store: StoreReader, rootUrl: string): Promise<ReviewCorpus> {
  const root = withSlash(rootUrl);
  const [train, test] = await Promise.all([readSplit(store, root, 'train'), readSplit(store, root, 'test')]);
  return { train, test };
}

function encodeReviews(
  tokens: readonly (readonly string[])[],
  reviews: readonly Review[],
  encode: (t: readonly string[], out: Int32Array) => void,
  maxLen: number,
): TokenSet {
  const n = reviews.length;
  const order = permutation(n, ORDER_SEED);
  const x = new Int32Array(n * maxLen);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const src = order[i] ?? 0;
    encode(tokens[src] ?? [], x.subarray(i * maxLen, (i + 1) * maxLen));
    y[i] = reviews[src]?.label ?? 0;
  }
  return { x, y, n, shape: [maxLen], classes: 2 };
}

/** Tokenizes, builds the vocabulary on train, and encodes both sets. */
export function encodeCorpus(corpus: ReviewCorpus, name: string, options: TextOptions = {}): TextDataset {
  const maxLen = options.maxLen ?? DEFAULT_MAX_LEN;
  if (!Number.isInteger(maxLen) || maxLen < 1)
    throw new BadInputError(`maxLen must be a positive integer, got ${maxLen}`);
  const trainTokens = corpus.train.map((r) => tokenize(r.text));
  const testTokens = corpus.test.map((r) => tokenize(r.text));
  const vocab = buildVocabulary(trainTokens, options.numWords ?? DEFAULT_NUM_WORDS);
  const encode = (t: readonly string[], out: Int32Array): void => void encodeTokens(t, vocab, maxLen, out);
  return {
    kind: 'text',
    name,
    train: encodeReviews(trainTokens, corpus.train, encode, maxLen),
    test: encodeReviews(testTokens, corpus.test, encode, maxLen),
    words: vocab.words,
  };
}
