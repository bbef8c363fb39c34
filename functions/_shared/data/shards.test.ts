import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { parseShardStrategy, shardIndices, SHARD_STRATEGIES, type ShardStrategy } from './shards.js';

/** 10 balanced classes in a scrambled order. */
function labels(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7) % 10);
}

function distinct(ls: Uint8Array, shard: Int32Array): number {
  return new Set(Array.from(shard, (i) => ls[i])).size;
}

function expectPartition(shards: Int32Array[], n: number): void {
  const seen = new Uint8Array(n);
  for (const shard of shards) for (const i of shard) seen[i] = (seen[i] ?? 0) + 1;
  expect(seen.every((c) => c === 1)).toBe(true);
}

describe('iid shards', () => {
  it.each([
    { name: '1000 into 3', n: 1000, shards: 3, sizes: [334, 333, 333] },
    { name: '10 into 10', n: 10, shards: 10, sizes: new Array<number>(10).fill(1) },
    { name: '7 into 1', n: 7, shards: 1, sizes: [7] },
    { name: '8000 into 4', n: 8000, shards: 4, sizes: [2000, 2000, 2000, 2000] },
  ])('$name: disjoint, covering, sizes within 1', ({ n, shards, sizes }) => {
    const out = shardIndices(labels(n), { strategy: 'iid', shards, seed: 5 });
    expect(out.map((s) => s.length)).toEqual(sizes);
    expectPartition(out, n);
  });

  it('is shuffled (not contiguous runs), seeded and repeatable', () => {
    const a = shardIndices(labels(1000), { strategy: 'iid', shards: 2, seed: 1 });
    const b = shardIndices(labels(1000), { strategy: 'iid', shards: 2, seed: 1 });
    const c = shardIndices(labels(1000), { strategy: 'iid', shards: 2, seed: 2 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a[0]?.at(-1)).toBeGreaterThan(600);
    expect(distinct(labels(1000), a[0] ?? new Int32Array())).toBe(10);
  });
});

describe('by-label shards', () => {
  it.each([
    { name: '2 shards', shards: 2, maxLabels: 6 },
    { name: '5 shards', shards: 5, maxLabels: 4 },
    { name: '10 shards', shards: 10, maxLabels: 2 },
  ])('$name: each holds only a few labels, the set is partitioned', ({ shards, maxLabels }) => {
    const ls = labels(1000);
    const out = shardIndices(ls, { strategy: 'by-label', shards, seed: 3 });
    expectPartition(out, 1000);
    for (const shard of out) expect(distinct(ls, shard)).toBeLessThanOrEqual(maxLabels);
    const sizes = out.map((s) => s.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(2);
  });

  it('gives shard k chunks k and N+k of the label-sorted order', () => {
    // 12 examples, labels 0..5 twice each; 3 shards → 6 chunks of 2 = one label per chunk.
    const ls = Uint8Array.from({ length: 12 }, (_, i) => i % 6);
    const out = shardIndices(ls, { strategy: 'by-label', shards: 3 });
    expect(out.map((s) => [...new Set(Array.from(s, (i) => ls[i]))].sort())).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
  });

  it('needs two examples per shard', () => {
    expect(() => shardIndices(labels(5), { strategy: 'by-label', shards: 3 })).toThrow(/at least 6/);
  });
});

describe('copy shards', () => {
  it('gives every shard the whole set, as separate arrays', () => {
    const out = shardIndices(labels(4), { strategy: 'copy', shards: 3 });
    expect(out.map((s) => [...s])).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(out[0]).not.toBe(out[1]);
  });
});

describe('shardIndices input checks', () => {
  const cases: { name: string; n: number; strategy: ShardStrategy; shards: number }[] = [
    { name: 'zero shards', n: 10, strategy: 'iid', shards: 0 },
    { name: 'fractional shards', n: 10, strategy: 'iid', shards: 1.5 },
    { name: 'more shards than examples', n: 3, strategy: 'iid', shards: 4 },
    { name: 'empty dataset', n: 0, strategy: 'copy', shards: 1 },
  ];
  it.each(cases)('rejects $name', ({ n, strategy, shards }) => {
    expect(() => shardIndices(labels(n), { strategy, shards })).toThrow(BadInputError);
  });

  it('parses strategy names from requests', () => {
    expect(SHARD_STRATEGIES.map(parseShardStrategy)).toEqual(['iid', 'by-label', 'copy']);
    expect(() => parseShardStrategy('random')).toThrow(/unknown shard strategy "random"/);
  });
});
