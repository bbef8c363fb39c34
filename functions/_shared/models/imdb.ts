// IMDB sentiment models over encoded reviews (int32 [batch, maxLen], see data/imdb-text.ts),
// ending in one sigmoid unit (probability the review is positive).
//
// - imdb-bigru: the original service's model, Embedding(10000, 100) → BiGRU(128, sequences)
//   → BiGRU(128) → Dense(1, sigmoid), rmsprop. Accurate on real reviews; its GRUs are the
//   engine's fused GRU (saved as plain TF.js GRUs), which trains on wasm at PyTorch's order of
//   speed (engine README, `npm run bench -- engine`). Slow on the pure-JS rung.
// - imdb-fast (default): Embedding(10000, 32) → global average pooling → Dense(16, relu) →
//   Dense(1, sigmoid), Adam — a bag of embedded words; trains in seconds.
import type * as tf from '@tensorflow/tfjs';
import { DEFAULT_MAX_LEN, DEFAULT_NUM_WORDS } from '../data/imdb-text.js';
import { fusedGru } from '../engine/gru-layer.js';

type TF = typeof tf;

export const IMDB_MODELS = ['imdb-fast', 'imdb-bigru'] as const;
export type ImdbModelName = (typeof IMDB_MODELS)[number];

export interface ImdbModelOptions {
  /** Embedding input size: reserved indices + words (default 10,000). */
  numWords?: number;
  /** Review length in tokens (default 500). */
  maxLen?: number;
  embeddingDim?: number;
  /** Seed for every initialiser, so a build repeats exactly (random when absent). */
  seed?: number;
}

/** Seeded initialisers: layer k of a model gets seed + k. */
function initializers(tfjs: TF, seed: number | undefined) {
  const at = (k: number) => (seed === undefined ? {} : { seed: seed + k });
  return {
    embedding: (k: number) => tfjs.initializers.randomUniform({ minval: -0.05, maxval: 0.05, ...at(k) }),
    glorot: (k: number) => tfjs.initializers.glorotUniform(at(k)),
    orthogonal: (k: number) => tfjs.initializers.orthogonal(at(k)),
  };
}

function compileBinary(model: tf.LayersModel, optimizer: tf.Optimizer): tf.LayersModel {
  model.compile({ optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}

export function buildImdbBiGru(tfjs: TF, options: ImdbModelOptions = {}): tf.LayersModel {
  const init = initializers(tfjs, options.seed);
  const gru = (k: number, returnSequences: boolean) =>
    fusedGru({
      units: 128,
      returnSequences,
      kernelInitializer: init.glorot(k),
      recurrentInitializer: init.orthogonal(k + 1),
    });
  const model = tfjs.sequential({ name: 'imdb-bigru' });
  model.add(
    tfjs.layers.embedding({
      inputDim: options.numWords ?? DEFAULT_NUM_WORDS,
      outputDim: options.embeddingDim ?? 100,
      inputLength: options.maxLen ?? DEFAULT_MAX_LEN,
      embeddingsInitializer: init.embedding(0),
    }),
  );
  model.add(tfjs.layers.bidirectional({ layer: gru(1, true) }));
  model.add(tfjs.layers.bidirectional({ layer: gru(3, false) }));
  model.add(tfjs.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init.glorot(5) }));
  return compileBinary(model, tfjs.train.rmsprop(0.001));
}

export function buildImdbFast(tfjs: TF, options: ImdbModelOptions = {}): tf.LayersModel {
  const init = initializers(tfjs, options.seed);
  const model = tfjs.sequential({ name: 'imdb-fast' });
  model.add(
    tfjs.layers.embedding({
      inputDim: options.numWords ?? DEFAULT_NUM_WORDS,
      outputDim: options.embeddingDim ?? 32,
      inputLength: options.maxLen ?? DEFAULT_MAX_LEN,
      embeddingsInitializer: init.embedding(0),
    }),
  );
  model.add(tfjs.layers.globalAveragePooling1d());
  model.add(tfjs.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init.glorot(1) }));
  model.add(tfjs.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init.glorot(2) }));
  return compileBinary(model, tfjs.train.adam(0.005));
}

export function buildImdbModel(tfjs: TF, name: ImdbModelName, options: ImdbModelOptions = {}): tf.LayersModel {
  return name === 'imdb-bigru' ? buildImdbBiGru(tfjs, options) : buildImdbFast(tfjs, options);
}
