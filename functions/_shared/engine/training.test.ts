// Every model kind Kaskade ships trains on the wasm rung: one step gives a finite loss, and
// the gradients of a small case equal the CPU backend's.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMnistCnn } from '../models/mnist-cnn.js';
import { randomValues, relativeError, useWasm } from '../../../test/support/kernels.js';
import { fusedGru } from './gru-layer.js';
import { makeTrainStep } from './train-step.js';

const L = tf.layers;

interface ModelCase {
  name: string;
  build: () => tf.LayersModel;
  x: { shape: number[]; classes?: number };
  classes: number;
  /** Normwise relative error allowed per weight gradient. */
  tolerance: number;
}

function resnetBlock(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 4] });
  let h = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input);
  h = L.batchNormalization().apply(h);
  h = L.activation({ activation: 'relu' }).apply(h);
  h = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(h);
  h = L.batchNormalization().apply(h);
  h = L.add().apply([h, input].filter((t): t is tf.SymbolicTensor => t instanceof tf.SymbolicTensor));
  h = L.activation({ activation: 'relu' }).apply(h);
  h = L.conv2d({ filters: 6, kernelSize: 1, strides: 2 }).apply(h);
  h = L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(h);
  h = L.globalAveragePooling2d({}).apply(h);
  const out = L.dense({ units: 4, activation: 'softmax' }).apply(h);
  if (!(out instanceof tf.SymbolicTensor) || !(input instanceof tf.SymbolicTensor))
    throw new Error('functional model wiring');
  return tf.model({ inputs: input, outputs: out });
}

function compiled(model: tf.LayersModel): tf.LayersModel {
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return model;
}

const cases: ModelCase[] = [
  { name: 'MNIST CNN', build: () => buildMnistCnn(tf), x: { shape: [3, 28, 28, 1] }, classes: 10, tolerance: 1e-4 },
  {
    name: 'embedding + GRU text model',
    build: () =>
      compiled(
        tf.sequential({
          layers: [
            L.embedding({ inputDim: 30, outputDim: 8, inputLength: 10 }),
            L.gru({ units: 12 }),
            L.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
      ),
    x: { shape: [4, 10], classes: 30 },
    classes: 3,
    tolerance: 1e-4,
  },
  {
    name: 'embedding + bidirectional LSTM text model',
    build: () =>
      compiled(
        tf.sequential({
          layers: [
            L.embedding({ inputDim: 30, outputDim: 8, inputLength: 10 }),
            L.bidirectional({ layer: L.lstm({ units: 6 }) }),
            L.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
      ),
    x: { shape: [4, 10], classes: 30 },
    classes: 3,
    tolerance: 1e-4,
  },
  {
    name: 'imdb-bigru shape (embedding, two fused bidirectional GRUs)',
    build: () =>
      compiled(
        tf.sequential({
          layers: [
            L.embedding({ inputDim: 40, outputDim: 6, inputLength: 9 }),
            L.bidirectional({ layer: fusedGru({ units: 8, returnSequences: true }) }),
            L.bidirectional({ layer: fusedGru({ units: 8 }) }),
            L.dense({ units: 2, activation: 'softmax' }),
          ],
        }),
      ),
    x: { shape: [3, 9], classes: 40 },
    classes: 2,
    tolerance: 1e-4,
  },
  {
    name: 'ResNet block (batch norm, add, 1x1 stride 2)',
    build: () => compiled(resnetBlock()),
    x: { shape: [3, 8, 8, 4] },
    classes: 4,
    tolerance: 1e-4,
  },
  {
    name: 'LSTM over 40x15 windows',
    build: () =>
      compiled(
        tf.sequential({
          layers: [L.lstm({ units: 16, inputShape: [40, 15] }), L.dense({ units: 10, activation: 'softmax' })],
        }),
      ),
    x: { shape: [3, 40, 15] },
    classes: 10,
    tolerance: 1e-4,
  },
  {
    name: 'MobileNet-style depthwise separable convs',
    build: () =>
      compiled(
        tf.sequential({
          layers: [
            L.conv2d({
              inputShape: [16, 16, 3],
              filters: 8,
              kernelSize: 3,
              strides: 2,
              padding: 'same',
              activation: 'relu',
            }),
            L.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }),
            L.conv2d({ filters: 8, kernelSize: 1, activation: 'relu' }),
            L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2 }),
            L.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same' }),
            L.globalAveragePooling2d({}),
            L.dense({ units: 5, activation: 'softmax' }),
          ],
        }),
      ),
    x: { shape: [2, 16, 16, 3] },
    classes: 5,
    tolerance: 1e-4,
  },
];

function batch(c: ModelCase, seed: number): { xs: tf.Tensor; ys: tf.Tensor } {
  const n = c.x.shape[0] ?? 1;
  const raw = randomValues(c.x.shape, seed);
  const values = c.x.classes === undefined ? raw : raw.map((v) => Math.floor(((v + 1) / 2) * (c.x.classes ?? 1)));
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % c.classes);
  return { xs: tf.tensor(values, c.x.shape), ys: tf.oneHot(tf.tensor1d(labels, 'int32'), c.classes) };
}

/** The loss gradient for every trainable weight of `model` on the current backend. */
function gradients(model: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const variables = model.trainableWeights
      .map((w) => w.read())
      .filter((v): v is tf.Variable => v instanceof tf.Variable);
    const { grads } = tf.variableGrads(() => {
      const predicted = model.apply(xs, { training: true });
      if (!(predicted instanceof tf.Tensor)) throw new Error('one output expected');
      return tf.mean(tf.metrics.categoricalCrossentropy(ys, predicted));
    }, variables);
    return variables.map((v) => {
      const g = grads[v.name];
      if (g === undefined) throw new Error(`no gradient for ${v.name}`);
      return g.dataSync<'float32'>();
    });
  });
}

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

describe('training on the wasm rung', () => {
  it.each(cases)('$name: one step gives a finite loss and moves the weights', (c) => {
    const model = c.build();
    const step = makeTrainStep(tf, model);
    const { xs, ys } = batch(c, 1);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const loss = step(xs, ys);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    const after = model.getWeights().map((w) => w.dataSync());
    expect(after.some((w, i) => relativeError(w, before[i] ?? new Float32Array()) > 0)).toBe(true);
    // A second step allocates nothing that outlives it but the returned loss.
    const tensors = tf.memory().numTensors;
    const again = step(xs, ys);
    expect(tf.memory().numTensors).toBe(tensors + 1);
    tf.dispose([loss, again, xs, ys]);
    model.dispose();
  });

  it.each(cases)('$name: gradients equal the CPU backend', async (c) => {
    const wasmModel = c.build();
    const weights = wasmModel.getWeights().map((w) => ({ values: w.dataSync().slice(), shape: w.shape }));
    const { xs, ys } = batch(c, 2);
    const onWasm = gradients(wasmModel, xs, ys);
    const [xv, yv] = [xs.dataSync().slice(), ys.dataSync().slice()];
    tf.dispose([xs, ys]);
    wasmModel.dispose();

    await tf.setBackend('cpu');
    try {
      const cpuModel = c.build();
      cpuModel.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
      const onCpu = gradients(cpuModel, tf.tensor(xv, c.x.shape), tf.tensor(yv, [c.x.shape[0] ?? 1, c.classes]));
      cpuModel.dispose();
      expect(onWasm).toHaveLength(onCpu.length);
      onCpu.forEach((want, i) =>
        expect(relativeError(onWasm[i] ?? new Float32Array(), want), `weight ${i}`).toBeLessThanOrEqual(c.tolerance),
      );
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
