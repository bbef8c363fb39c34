import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import {
  buildVocabulary,
  encodeText,
  encodeTokens,
  OOV,
  PAD,
  START,
  tokenize,
  vocabularyFromWords,
} from './imdb-text.js';
import { encodeCorpus, readAclImdb } from './imdb.js';
import { syntheticReviews, writeAclImdb } from './imdb-synthetic.js';
import { FileStore } from '../store/file-store.js';
import { makeTempDir, type TempDir } from '../../../test/support/temp-dir.js';

describe('tokenize', () => {
  it.each([
    { name: 'keeps words apart', text: 'A great movie', tokens: ['a', 'great', 'movie'] },
    { name: 'line breaks separate words', text: 'the end.<br /><br />Then', tokens: ['the', 'end', 'then'] },
    { name: 'break tag variants', text: 'one<br/>two<BR>three', tokens: ['one', 'two', 'three'] },
    { name: 'punctuation and digits separate', text: 'Wow!!!10/10,loved-it', tokens: ['wow', 'loved', 'it'] },
    { name: 'inner apostrophes stay', text: "I didn't 'like' it", tokens: ['i', "didn't", 'like', 'it'] },
    { name: 'letters of any script', text: 'Amélie ist schön', tokens: ['amélie', 'ist', 'schön'] },
    { name: 'nothing to keep', text: '!!! 123 ...', tokens: [] },
  ])('$name', ({ text, tokens }) => {
    expect(tokenize(text)).toEqual(tokens);
  });
});

describe('vocabulary', () => {
  it('ranks by frequency, breaks ties alphabetically, reserves 0..2', () => {
    const vocab = buildVocabulary(
      [
        ['b', 'a', 'c', 'c'],
        ['b', 'd', 'c'],
      ],
      6,
    );
    expect(vocab.words).toEqual(['c', 'b', 'a']);
    expect(vocab.index.get('c')).toBe(3);
    expect(vocab.index.get('a')).toBe(5);
    expect(vocab.index.has('d')).toBe(false);
    expect(vocab.size).toBe(6);
  });

  it('rejects too small a size and duplicate words', () => {
    expect(() => buildVocabulary([], 3)).toThrow(BadInputError);
    expect(() => vocabularyFromWords(['a', 'a'])).toThrow(/twice/);
  });
});

describe('encode', () => {
  const vocab = vocabularyFromWords(['good', 'bad', 'movie']); // 3, 4, 5
  it.each([
    { name: 'pads in front', tokens: ['good', 'movie'], maxLen: 5, out: [PAD, PAD, START, 3, 5] },
    { name: 'exact fit', tokens: ['bad', 'movie'], maxLen: 3, out: [START, 4, 5] },
    { name: 'truncates from the front', tokens: ['good', 'bad', 'movie', 'bad'], maxLen: 3, out: [4, 5, 4] },
    { name: 'unknown words are OOV', tokens: ['great', 'movie'], maxLen: 3, out: [START, OOV, 5] },
    { name: 'empty review', tokens: [], maxLen: 2, out: [PAD, START] },
  ])('$name', ({ tokens, maxLen, out }) => {
    expect([...encodeTokens(tokens, vocab, maxLen)]).toEqual(out);
  });

  it('encodes raw text with the tokenizer', () => {
    expect([...encodeText('Good<br />MOVIE!', vocab, 4)]).toEqual([PAD, START, 3, 5]);
  });
});

describe('synthetic corpus', () => {
  it('is deterministic per seed and balanced', () => {
    const a = syntheticReviews({ seed: 4, trainPerClass: 20, testPerClass: 5 });
    const b = syntheticReviews({ seed: 4, trainPerClass: 20, testPerClass: 5 });
    const c = syntheticReviews({ seed: 5, trainPerClass: 20, testPerClass: 5 });
    expect(a).toEqual(b);
    expect(a.train[0]?.text).not.toBe(c.train[0]?.text);
    expect(a.train.filter((r) => r.label === 1)).toHaveLength(20);
    expect(a.test).toHaveLength(10);
    expect(a.train.every((r) => (r.label === 1 ? r.rating >= 7 : r.rating <= 4))).toBe(true);
    expect(a.train.some((r) => r.text.includes('<br /><br />'))).toBe(true);
  });

  it('carries sentiment a word count can see', () => {
    const { train } = syntheticReviews({ seed: 1, trainPerClass: 200, testPerClass: 1 });
    const share = (label: 0 | 1, word: string) =>
      train.filter((r) => r.label === label && tokenize(r.text).includes(word)).length / 200;
    expect(share(1, 'brilliant')).toBeGreaterThan(share(0, 'brilliant') * 2);
    expect(share(0, 'boring')).toBeGreaterThan(share(1, 'boring') * 2);
  });
});

describe('aclImdb folder', () => {
  let dir: TempDir;
  let store: FileStore;
  beforeAll(async () => {
    dir = await makeTempDir('kaskade-imdb-');
    store = new FileStore([dir.url]);
  });
  afterAll(async () => dir.remove());

  it('round-trips a corpus through the aclImdb layout', async () => {
    const corpus = syntheticReviews({ seed: 2, trainPerClass: 12, testPerClass: 3 });
    const root = `${dir.url}/aclImdb`;
    await writeAclImdb(store, root, corpus);
    await store.write(`${root}/train/urls_pos.txt`, new TextEncoder().encode('http://x'));
    await store.write(`${root}/train/unsup/0_0.txt`, new TextEncoder().encode('unlabelled'));
    expect(await store.exists(`${root}/train/pos/11_${corpus.train[11]?.rating}.txt`)).toBe(true);
    const read = await readAclImdb(store, root);
    const byKey = (rs: typeof corpus.train) => [...rs].sort((a, b) => b.label - a.label || a.id - b.id);
    expect(read.train).toEqual(byKey(corpus.train));
    expect(read.test).toEqual(byKey(corpus.test));
  });

  it('needs both classes', async () => {
    const root = `${dir.url}/onlypos`;
    await store.write(`${root}/train/pos/0_9.txt`, new TextEncoder().encode('good'));
    await expect(readAclImdb(store, root)).rejects.toThrow(/both pos\/ and neg\//);
  });
});

describe('encodeCorpus', () => {
  it('builds the vocabulary on train and encodes both sets', () => {
    const corpus = syntheticReviews({ seed: 3, trainPerClass: 30, testPerClass: 10 });
    const ds = encodeCorpus(corpus, 'imdb:synthetic', { numWords: 50, maxLen: 40 });
    expect(ds.kind).toBe('text');
    expect(ds.words).toHaveLength(47);
    expect([ds.train.n, ds.test.n]).toEqual([60, 20]);
    expect(ds.train.shape).toEqual([40]);
    expect(ds.train.x.length).toBe(60 * 40);
    expect(Math.max(...ds.train.x)).toBeLessThan(50);
    expect(ds.train.x.includes(OOV)).toBe(true);
    expect(ds.train.y.reduce((a, b) => a + b, 0)).toBe(30);
    expect(new Set(ds.train.y.subarray(0, 10)).size).toBe(2);
  });
});
