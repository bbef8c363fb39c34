// ResNet-50 has Keras's layout (parameter count, stage names), and its batch-norm-folded
// inference twin computes the same function.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomValues, relativeError, useWasm } from '../../../test/support/kernels.js';
import { RESNET50_CUT_POINTS, buildResNet50, foldResNet50 } from './resnet50.js';

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

/** Gives every batch norm non-trivial statistics, as a trained network has. */
function randomiseBatchNorms(model: tf.LayersModel): void {
  let seed = 100;
  for (const layer of model.layers) {
    if (!layer.name.endsWith('_bn')) continue;
    const weights = layer.getWeights().map((w, i) => {
      const r = randomValues(w.shape, seed++);
      // gamma, beta, moving mean, moving variance
      const values = r.map((v) => (i === 0 || i === 3 ? 1 + 0.4 * v : 0.3 * v));
      return tf.tensor(values, w.shape);
    });
    layer.setWeights(weights);
    tf.dispose(weights);
  }
}

function outputAt(model: tf.LayersModel, layer: string, x: tf.Tensor): Float32Array {
  const input = model.inputs[0];
  if (input === undefined) throw new Error('no input');
  const cut = tf.model({ inputs: input, outputs: model.getLayer(layer).output });
  return tf.tidy(() => {
    const y = cut.predict(x);
    if (!(y instanceof tf.Tensor)) throw new Error('one output expected');
    return y.dataSync<'float32'>();
  });
}

describe('ResNet-50', () => {
  it('has the Keras ResNet50 parameter count, input, output and stage names', () => {
    const model = buildResNet50(tf);
    expect(model.countParams()).toBe(25_636_712);
    expect(model.inputs[0]?.shape).toEqual([null, 224, 224, 3]);
    expect(model.outputs[0]?.shape).toEqual([null, 1000]);
    for (const name of RESNET50_CUT_POINTS) expect(() => model.getLayer(name)).not.toThrow();
    model.dispose();
  });

  it('folding batch norm into the convolutions keeps the function', () => {
    const options = { inputSize: 64, classes: 10, seed: 5 };
    const model = buildResNet50(tf, options);
    randomiseBatchNorms(model);
    const folded = foldResNet50(tf, model, options);
    expect(folded.layers.some((l) => l.name.endsWith('_bn'))).toBe(false);
    const x = tf.tensor(randomValues([2, 64, 64, 3], 9), [2, 64, 64, 3]);
    for (const layer of ['conv2_block3_out', 'conv4_block6_out', 'predictions']) {
      expect(relativeError(outputAt(folded, layer, x), outputAt(model, layer, x)), layer).toBeLessThanOrEqual(1e-4);
    }
    tf.dispose(x);
    model.dispose();
    folded.dispose();
  });
});
