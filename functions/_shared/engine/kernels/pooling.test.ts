// MaxPoolGrad on wasm agrees with the CPU backend, ties included, and leaves nothing behind.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type KernelCall,
  liveCounts,
  randomValues,
  relativeError,
  runOn,
  useWasm,
} from '../../../../test/support/kernels.js';

interface Case {
  name: string;
  x: [number, number, number, number];
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number;
  /** Rounds inputs to a few levels so windows hold ties, as after a ReLU. */
  ties?: boolean;
}

const cases: Case[] = [
  { name: 'mnist 2x2 stride 2', x: [4, 24, 24, 16], filterSize: 2, strides: 2, pad: 'valid' },
  { name: '3x3 stride 2 same (resnet stem), odd size', x: [2, 13, 11, 5], filterSize: 3, strides: 2, pad: 'same' },
  { name: 'overlapping 3x3 stride 1', x: [2, 7, 7, 3], filterSize: 3, strides: 1, pad: 'valid' },
  { name: 'rectangular window and stride', x: [1, 9, 10, 2], filterSize: [2, 3], strides: [2, 3], pad: 'same' },
  { name: 'numeric padding', x: [2, 6, 6, 3], filterSize: 3, strides: 2, pad: 1 },
  { name: 'ties (first maximum wins)', x: [2, 8, 8, 4], filterSize: 2, strides: 2, pad: 'valid', ties: true },
];

beforeAll(useWasm);

describe('MaxPoolGrad on wasm', () => {
  it.each(cases)('$name', async (c) => {
    let x = randomValues(c.x, 3);
    if (c.ties === true) x = x.map((v) => Math.max(0, Math.round(v * 2)));
    // y is what MaxPool gives for x; computed on the CPU so both backends see the same tensors.
    const y = await runOn('cpu', {
      kernel: 'MaxPool',
      inputs: { x: { shape: c.x, values: x } },
      attrs: { filterSize: c.filterSize, strides: c.strides, pad: c.pad },
    });
    const dy = randomValues(y.shape, 4);
    const call: KernelCall = {
      kernel: 'MaxPoolGrad',
      inputs: {
        dy: { shape: y.shape, values: dy },
        input: { shape: c.x, values: x },
        output: { shape: y.shape, values: Float32Array.from(y.values) },
      },
      attrs: { filterSize: c.filterSize, strides: c.strides, pad: c.pad },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', call)];
    expect(got.shape).toEqual(c.x);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(1e-6);
    const before = liveCounts();
    await runOn('wasm', call);
    expect(liveCounts()).toEqual(before);
  });

  it('is what tf.grad of maxPool gives on the CPU backend', async () => {
    const x = randomValues([2, 6, 6, 3], 9);
    const grad = async (backend: string): Promise<Float32Array> => {
      await tf.setBackend(backend);
      const g = tf.tidy(() =>
        tf
          .grad((t) =>
            tf
              .maxPool(tf.reshape<tf.Rank.R4>(t, [2, 6, 6, 3]), 2, 2, 'valid')
              .square()
              .sum(),
          )(tf.tensor(x))
          .dataSync<'float32'>(),
      );
      await tf.setBackend('wasm');
      return g;
    };
    expect(relativeError(await grad('wasm'), await grad('cpu'))).toBeLessThanOrEqual(1e-5);
  });
});
