// How a training set is cut into N shards, one per shard trainer. Pure functions over labels;
// each shard is an Int32Array of example indices (ascending within a shard for iid and
// by-label; use subset() from ./batches.ts to materialise it).
//
// - iid: a seeded permutation dealt into N contiguous runs; shards are disjoint, cover every
//   example, and their sizes differ by at most 1 (the first n mod N shards get one more).
// - by-label (non-IID, after McMahan et al.'s "pathological" split): examples sorted by label
//   (ties in seeded random order), cut into 2N contiguous chunks whose sizes differ by at
//   most 1; shard k gets chunks k and N + k. So a shard holds the labels of two narrow label
//   ranges, one from the lower half of the sorted set and one from the upper half (with 10
//   balanced classes and N = 5: 2–4 labels per shard; N = 2: about 5). Disjoint, covering,
//   sizes differ by at most 2. Needs n ≥ 2N.
// - copy: every shard is the whole set, 0..n-1 (the original IMDB service's "copier").
import { BadInputError } from '../errors.js';
import { permutation } from './random.js';

export const SHARD_STRATEGIES = ['iid', 'by-label', 'copy'] as const;
export type ShardStrategy = (typeof SHARD_STRATEGIES)[number];

export function isShardStrategy(value: string): value is ShardStrategy {
  return SHARD_STRATEGIES.some((s) => s === value);
}

/** The strategy a request names; BadInputError for anything else. */
export function parseShardStrategy(value: string): ShardStrategy {
  if (!isShardStrategy(value))
    throw new BadInputError(`unknown shard strategy "${value}" (${SHARD_STRATEGIES.join(', ')})`);
  return value;
}

/** Sizes of `parts` near-equal runs covering `n` items; the first n mod parts get one more. */
function runSizes(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

function cut(order: Int32Array, parts: number): Int32Array[] {
  let at = 0;
  return runSizes(order.length, parts).map((size) => {
    const run = order.slice(at, at + size);
    at += size;
    return run;
  });
}

function sortedCopy(values: Int32Array): Int32Array {
  return values.slice().sort();
}

export function iidShards(n: number, shards: number, seed: number): Int32Array[] {
  return cut(permutation(n, seed), shards).map(sortedCopy);
}

export function byLabelShards(labels: ArrayLike<number>, shards: number, seed: number): Int32Array[] {
  const n = labels.length;
  if (n < 2 * shards)
    throw new BadInputError(`by-label needs at least ${2 * shards} examples for ${shards} shards, got ${n}`);
  const shuffled = permutation(n, seed);
  const rank = new Int32Array(n);
  shuffled.forEach((example, position) => (rank[example] = position));
  const order = shuffled.slice().sort((a, b) => (labels[a] ?? 0) - (labels[b] ?? 0) || (rank[a] ?? 0) - (rank[b] ?? 0));
  const chunks = cut(order, 2 * shards);
  return Array.from({ length: shards }, (_, k) => {
    const low = chunks[k] ?? new Int32Array(0);
    const high = chunks[shards + k] ?? new Int32Array(0);
    const shard = new Int32Array(low.length + high.length);
    shard.set(low);
    shard.set(high, low.length);
    return shard.sort();
  });
}

export function copyShards(n: number, shards: number): Int32Array[] {
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  return Array.from({ length: shards }, () => all.slice());
}

export interface ShardOptions {
  strategy: ShardStrategy;
  shards: number;
  /** Seed of the permutation (iid) or the tie order (by-label); default 0. */
  seed?: number;
}

/** Index arrays of each shard; BadInputError when the request cannot be met. */
export function shardIndices(labels: ArrayLike<number>, options: ShardOptions): Int32Array[] {
  const { strategy, shards } = options;
  const seed = options.seed ?? 0;
  const n = labels.length;
  if (!Number.isInteger(shards) || shards < 1)
    throw new BadInputError(`shard count must be a positive integer, got ${shards}`);
  if (n === 0) throw new BadInputError('cannot shard an empty dataset');
  if (strategy !== 'copy' && shards > n)
    throw new BadInputError(`${shards} shards need at least ${shards} examples, got ${n}`);
  switch (strategy) {
    case 'iid':
      return iidShards(n, shards, seed);
    case 'by-label':
      return byLabelShards(labels, shards, seed);
    case 'copy':
      return copyShards(n, shards);
  }
}
