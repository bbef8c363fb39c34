import { beforeAll, describe, expect, it } from 'vitest';
import type * as tfjs from '@tensorflow/tfjs';
import { initEngine } from '../engine/index.js';
import {
  applyWeights,
  decodeExamples,
  decodeWeights,
  encodeExamples,
  encodeModelWeights,
  encodeWeightSet,
  weightKey,
} from './artifacts.js';

type TF = typeof tfjs;
let tf: TF;
beforeAll(async () => {
  tf = (await initEngine()).tf;
});

function tinyModel(): tfjs.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 4, activation: 'relu' }),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return model;
}

describe('examples', () => {
  it.each([
    { name: 'images', x: new Float32Array([0, 0.5, 1, 0.25, 0.75, 0.125]), shape: [3, 1] },
    { name: 'token ids', x: new Int32Array([1, 5, 2, 1, 7, 0]), shape: [3] },
  ])('round-trip $name', ({ x, shape }) => {
    const set = { x, y: new Uint8Array([1, 0]), n: 2, shape, classes: 2 };
    const back = decodeExamples(encodeExamples(set), 'mem');
    expect(back).toMatchObject({ n: 2, shape, classes: 2 });
    expect(Array.from(back.x)).toEqual(Array.from(x));
    expect(Array.from(back.y)).toEqual([1, 0]);
    expect(back.x.constructor).toBe(x.constructor);
  });

  it('refuses labels outside the classes', () => {
    const bytes = encodeExamples({ x: new Float32Array(2), y: new Uint8Array([0, 3]), n: 2, shape: [1], classes: 3 });
    expect(() => decodeExamples(bytes, 'mem')).toThrow(/label 3/);
  });
});

describe('weights', () => {
  it('carry a model’s weights by position into another model of the same architecture, leaking nothing', async () => {
    const a = tinyModel();
    const b = tinyModel();
    const before = tf.memory().numTensors;
    const file = decodeWeights(await encodeModelWeights(a, { note: 'x' }), 'mem');
    expect(Object.keys(file.weights)).toEqual([0, 1, 2, 3].map(weightKey));
    expect(file.metadata.note).toBe('x');
    expect(JSON.parse(file.metadata.weightNames ?? '[]')).toHaveLength(4);
    applyWeights(tf, b, file.weights, 'mem');
    expect(tf.memory().numTensors).toBe(before);
    const wa = a.getWeights().map((t) => Array.from(t.dataSync()));
    const wb = b.getWeights().map((t) => Array.from(t.dataSync()));
    expect(wb).toEqual(wa);
    a.dispose();
    b.dispose();
  });

  it('re-encodes averaged plain weights in the same layout', () => {
    const set = { [weightKey(0)]: { shape: [2], data: new Float32Array([1, 2]) } };
    expect(decodeWeights(encodeWeightSet(set, { round: '3' }), 'mem')).toMatchObject({ metadata: { round: '3' } });
  });

  it.each([
    {
      name: 'a missing weight',
      weights: { [weightKey(0)]: { shape: [3, 4], data: new Float32Array(12) } },
      error: /1 weights for a model with 4/,
    },
    {
      name: 'a wrong shape',
      weights: Object.fromEntries(
        [[3, 4], [4], [4, 2], [3]].map((shape, i) => [
          weightKey(i),
          { shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)) },
        ]),
      ),
      error: /shape \[3\]/,
    },
  ])('refuses $name', ({ weights, error }) => {
    const model = tinyModel();
    const before = tf.memory().numTensors;
    expect(() => applyWeights(tf, model, weights, 'mem')).toThrow(error);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
