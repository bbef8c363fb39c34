// BatchMatMul with transposed operands on wasm agrees with the CPU backend and leaves nothing behind.
import { beforeAll, describe, expect, it } from 'vitest';
import { type KernelCall, liveCounts, relativeError, runOn, useWasm } from '../../../../test/support/kernels.js';

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const cases: Case[] = [
  { name: 'plain product', a: [5, 7], b: [7, 3], transposeA: false, transposeB: false },
  { name: 'Aᵀ·B (a weight gradient)', a: [9, 4], b: [9, 6], transposeA: true, transposeB: false },
  { name: 'A·Bᵀ (an input gradient)', a: [4, 6], b: [5, 6], transposeA: false, transposeB: true },
  { name: 'Aᵀ·Bᵀ', a: [6, 3], b: [5, 6], transposeA: true, transposeB: true },
  { name: 'batched, both transposed', a: [2, 7, 3], b: [2, 4, 7], transposeA: true, transposeB: true },
  { name: 'batch broadcast from one side', a: [3, 5, 4], b: [1, 6, 5], transposeA: true, transposeB: true },
  { name: 'one-column result', a: [33, 17], b: [33, 1], transposeA: true, transposeB: false },
];

beforeAll(useWasm);

describe('BatchMatMul on wasm', () => {
  it.each(cases)('$name', async (c) => {
    const call: KernelCall = {
      kernel: 'BatchMatMul',
      inputs: { a: { shape: c.a }, b: { shape: c.b } },
      attrs: { transposeA: c.transposeA, transposeB: c.transposeB },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', call)];
    expect(got.shape).toEqual(want.shape);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(1e-6);
    const before = liveCounts();
    await runOn('wasm', call);
    expect(liveCounts()).toEqual(before);
  });
});
