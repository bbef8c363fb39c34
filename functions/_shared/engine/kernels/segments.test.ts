// UnsortedSegmentSum on wasm agrees with the CPU backend and leaves nothing behind.
import { beforeAll, describe, expect, it } from 'vitest';
import { type KernelCall, liveCounts, relativeError, runOn, useWasm } from '../../../../test/support/kernels.js';

interface Case {
  name: string;
  x: number[];
  ids: Int32Array;
  idShape: number[];
  numSegments: number;
  dtype?: 'float32' | 'int32';
}

const cases: Case[] = [
  {
    name: 'embedding rows, repeated ids',
    x: [6, 4],
    ids: Int32Array.from([3, 0, 3, 1, 3, 0]),
    idShape: [6],
    numSegments: 5,
  },
  {
    name: 'ids outside the range are dropped',
    x: [5, 3],
    ids: Int32Array.from([0, -1, 2, 7, 2]),
    idShape: [5],
    numSegments: 3,
  },
  {
    name: 'rank-3 x (rows of matrices)',
    x: [6, 3, 2],
    ids: Int32Array.from([1, 0, 1, 2, 2, 0]),
    idShape: [6],
    numSegments: 3,
  },
  { name: 'int32 values', x: [4, 2], ids: Int32Array.from([1, 1, 0, 1]), idShape: [4], numSegments: 2, dtype: 'int32' },
  { name: 'scalar rows', x: [7], ids: Int32Array.from([0, 1, 0, 1, 0, 1, 2]), idShape: [7], numSegments: 4 },
];

beforeAll(useWasm);

describe('UnsortedSegmentSum on wasm', () => {
  it.each(cases)('$name', async (c) => {
    const size = c.x.reduce((a, b) => a * b, 1);
    const xValues = c.dtype === 'int32' ? Int32Array.from({ length: size }, (_, i) => i * 3 - 5) : undefined;
    const call: KernelCall = {
      kernel: 'UnsortedSegmentSum',
      inputs: {
        x: { shape: c.x, dtype: c.dtype ?? 'float32', ...(xValues ? { values: xValues } : {}) },
        segmentIds: { shape: c.idShape, dtype: 'int32', values: c.ids },
      },
      attrs: { numSegments: c.numSegments },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', call)];
    expect(got.shape).toEqual(want.shape);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(1e-6);
    const before = liveCounts();
    await runOn('wasm', call);
    expect(liveCounts()).toEqual(before);
  });
});
