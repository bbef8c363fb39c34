import type * as tfjs from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../engine/index.js';
import { loadDataset } from '../data/dataset.js';
import type { TextDataset } from '../data/types.js';
import { evaluate, trainEpochs } from '../train/loop.js';
import { buildImdbModel } from './imdb.js';

type TF = typeof tfjs;
let tf: TF;
let reviews: TextDataset;
const text = { numWords: 1000, maxLen: 100 };

beforeAll(async () => {
  ({ tf } = await initEngine());
  const ds = await loadDataset('imdb:synthetic?seed=11&train=400&test=150', { text });
  if (ds.kind !== 'text') throw new Error('expected a text dataset');
  reviews = ds;
});

describe('imdb-fast', () => {
  it('learns the synthetic reviews (held-out accuracy ≥ 0.85) on the engine backend', async () => {
    const model = buildImdbModel(tf, 'imdb-fast', { ...text, seed: 4 });
    expect(model.name).toBe('imdb-fast');
    expect(model.outputs[0]?.shape).toEqual([null, 1]);
    await trainEpochs(tf, model, reviews.train, { epochs: 4, batchSize: 32, shuffleSeed: 1 });
    const tensors = tf.memory().numTensors;
    const result = await evaluate(tf, model, reviews.test);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.85);
    model.dispose();
  });

  it('builds the same weights from the same seed', () => {
    const [a, b, c] = [1, 1, 2].map((seed) => buildImdbModel(tf, 'imdb-fast', { ...text, seed }));
    const first = (m: tfjs.LayersModel | undefined) => m?.getWeights()[0]?.dataSync();
    expect(first(a)).toEqual(first(b));
    expect(first(a)).not.toEqual(first(c));
    [a, b, c].forEach((m) => m?.dispose());
  });
});

describe('imdb-bigru', () => {
  it('has the original architecture and takes a training step through both GRU layers', async () => {
    const short = { numWords: 1000, maxLen: 12 };
    const model = buildImdbModel(tf, 'imdb-bigru', short);
    expect(model.name).toBe('imdb-bigru');
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Embedding', 'Bidirectional', 'Bidirectional', 'Dense']);
    expect(model.layers[0]?.outputShape).toEqual([null, 12, 100]);
    expect(model.layers[1]?.outputShape).toEqual([null, 12, 256]);
    expect(model.layers[2]?.outputShape).toEqual([null, 256]);
    const few = await loadDataset('imdb:synthetic?seed=3&train=2&test=1', { text: short });
    const before = model.getWeights()[0]?.dataSync().slice();
    const result = await trainEpochs(tf, model, few.train, { epochs: 1, batchSize: 4 });
    expect(Number.isFinite(result.epochs[0]?.loss)).toBe(true);
    expect(model.getWeights()[0]?.dataSync()).not.toEqual(before);
    model.dispose();
  });
});
