// Every model Kaskade trains exports to ONNX, and ONNX Runtime's output equals TF.js's within
// 1e-4: the MNIST CNN, both IMDB models (the BiGRU one included) and ResNet-50 (trained form
// with batch norm statistics, and the folded inference twin), at their shipped sizes.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxParity, randomiseWeights, uniform } from '../../../test/support/onnx-parity.js';
import { useWasm } from '../../../test/support/kernels.js';
import { buildImdbModel, IMDB_MODELS } from '../models/imdb.js';
import { buildMnistCnn, MNIST_CNN_INPUT_SHAPE } from '../models/mnist-cnn.js';
import { buildResNet50, foldResNet50 } from '../models/resnet50.js';
import { DEFAULT_MAX_LEN, DEFAULT_NUM_WORDS } from '../data/imdb-text.js';

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

const TOLERANCE = 1e-4;

describe('ONNX export of the shipped models', () => {
  it('mnist-cnn', async () => {
    const model = buildMnistCnn(tf, { seed: 1 });
    randomiseWeights(tf, model, 5);
    const x = tf.tensor(uniform(8 * 28 * 28, 9, 0, 1), [8, ...MNIST_CNN_INPUT_SHAPE]);
    const parity = await onnxParity(tf, model, x);
    expect(parity.onnx.length).toBe(8 * 10);
    expect(parity.maxAbsDiff).toBeLessThan(TOLERANCE);
    x.dispose();
    model.dispose();
  });

  it.each(IMDB_MODELS)('%s', async (name) => {
    const model = buildImdbModel(tf, name, { seed: 2 });
    // Recurrent kernels keep their Glorot/orthogonal values: random ±0.5 matrices of 128 units
    // make a 500-step recurrence chaotic, where any two float orders drift apart.
    randomiseWeights(
      tf,
      model,
      7,
      (layer, weight) => !(layer.getClassName() === 'Bidirectional' && weight.endsWith('kernel')),
    );
    const ids = Int32Array.from(uniform(2 * DEFAULT_MAX_LEN, 11, 0, DEFAULT_NUM_WORDS), Math.floor);
    const x = tf.tensor(ids, [2, DEFAULT_MAX_LEN], 'int32');
    const parity = await onnxParity(tf, model, x);
    expect(parity.onnx.length).toBe(2);
    expect(parity.maxAbsDiff).toBeLessThan(TOLERANCE);
    x.dispose();
    model.dispose();
  });

  it('resnet50, trained form (batch norm with moving statistics) and folded twin', async () => {
    const model = buildResNet50(tf, { seed: 3 });
    // He-initialised kernels stay as built (random ±0.5 weights would blow up 50 layers);
    // batch norms and the classifier get trained-looking values.
    randomiseWeights(tf, model, 13, (layer) => layer.name.endsWith('_bn') || layer.name === 'predictions');
    const x = tf.tensor(uniform(224 * 224 * 3, 21, 0, 1), [1, 224, 224, 3]);
    const trained = await onnxParity(tf, model, x);
    expect(trained.onnx.length).toBe(1000);
    expect(trained.maxAbsDiff).toBeLessThan(TOLERANCE);
    const folded = foldResNet50(tf, model, {});
    const twin = await onnxParity(tf, folded, x);
    expect(twin.maxAbsDiff).toBeLessThan(TOLERANCE);
    x.dispose();
    model.dispose();
    folded.dispose();
  });
});
