// Seeded pseudo-random numbers for everything that must repeat exactly across runs and
// machines: dataset splits, shard assignment, epoch shuffles, the synthetic review corpus.
// Math.random is never used for these.

/** A generator of floats in [0, 1) from a 32-bit seed (the mulberry32 recurrence). */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, bound). */
export function randomInt(random: Random, bound: number): number {
  return Math.floor(random() * bound);
}

/** Fisher–Yates shuffle in place; returns its argument. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(values: T, random: Random): T {
  for (let i = values.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const a = values[i];
    const b = values[j];
    if (a === undefined || b === undefined) throw new RangeError('shuffle index out of range');
    values[i] = b;
    values[j] = a;
  }
  return values;
}

/** 0..n-1 in a seeded random order. */
export function permutation(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return shuffleInPlace(order, seededRandom(seed));
}
