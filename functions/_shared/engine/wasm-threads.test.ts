// The wasm rung with XNNPACK threads in Node: the threaded build starts with the requested
// thread count, computes what the CPU backend computes, and trains. (Its own test file, so
// its own process: the thread count is fixed when the wasm backend first starts.)
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { buildMnistCnn } from '../models/mnist-cnn.js';
import { selectBackend } from './index.js';
import { type KernelCall, relativeError, runOn } from '../../../test/support/kernels.js';
import { makeTrainStep } from './train-step.js';
import { loadWasmConfig } from './wasm.js';

beforeAll(async () => {
  await selectBackend({ env: { KASKADE_BACKEND: 'wasm', KASKADE_WASM_THREADS: '2' } });
});

describe('threaded wasm', () => {
  it('runs with the requested number of threads', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(getThreadsCount()).toBe(2);
  });

  it.each<KernelCall & { name: string }>([
    {
      name: 'convolution',
      kernel: 'Conv2D',
      inputs: { x: { shape: [8, 20, 20, 16] }, filter: { shape: [3, 3, 16, 32] } },
      attrs: { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 },
    },
    {
      name: 'matrix product',
      kernel: 'BatchMatMul',
      inputs: { a: { shape: [1, 256, 128] }, b: { shape: [1, 128, 64] } },
      attrs: { transposeA: false, transposeB: false },
    },
  ])('$name equals the CPU backend', async (c) => {
    const [got, want] = [await runOn('wasm', c), await runOn('cpu', c)];
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(1e-5);
  });

  it('trains the MNIST CNN without leaking', () => {
    const model = buildMnistCnn(tf, { seed: 1 });
    const step = makeTrainStep(tf, model);
    const xs = tf.randomUniform([16, 28, 28, 1], 0, 1, 'float32', 3);
    const ys = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 10),
        'int32',
      ),
      10,
    );
    step(xs, ys).dispose();
    const before = tf.memory().numTensors;
    const losses = Array.from({ length: 5 }, () => step(xs, ys));
    const values = losses.map((l) => l.dataSync()[0] ?? NaN);
    tf.dispose(losses);
    expect(tf.memory().numTensors).toBe(before);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(values.at(-1)).toBeLessThan(values[0] ?? -Infinity);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});

describe('KASKADE_WASM_THREADS', () => {
  it.each([
    { name: 'unset', value: undefined, threads: 1 },
    { name: 'two', value: '2', threads: 2 },
  ])('$name → $threads', ({ value, threads }) => {
    expect(loadWasmConfig({ KASKADE_WASM_THREADS: value }).threads).toBe(threads);
  });
  it.each(['0', '-1', '1.5', 'many', '1000'])('"%s" is a ConfigError', (value) => {
    expect(() => loadWasmConfig({ KASKADE_WASM_THREADS: value })).toThrow(ConfigError);
  });
});
