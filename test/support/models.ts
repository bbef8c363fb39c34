// Test support: tiny models with the predictor's input kinds, their metadata, and publishing
// them under a model prefix (folder + kaskade.json + LATEST) the way a finished job does.
import type * as tfjs from '@tensorflow/tfjs';
import {
  MODEL_METADATA_FILE,
  VOCABULARY_FILE,
  encodeModelMetadata,
  encodeVocabulary,
  type ModelMetadata,
} from '../../functions/_shared/models/metadata.js';
import { publishLatest, type Store } from '../../functions/_shared/store/index.js';

type TF = typeof tfjs;

export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** A small random CNN taking 28×28×1 images, 10 softmax outputs. */
export function tinyMnistModel(tf: TF, seed = 1): tfjs.LayersModel {
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 4,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(
    tf.layers.dense({
      units: 10,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  return model;
}

/** Embedding → average → one sigmoid unit, over sequences of `length` ids below `vocabulary`. */
export function tinyTokenModel(tf: TF, length = 12, vocabulary = 50): tfjs.LayersModel {
  const model = tf.sequential();
  model.add(
    tf.layers.embedding({
      inputDim: vocabulary,
      outputDim: 8,
      inputLength: length,
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 3 }),
    }),
  );
  model.add(tf.layers.globalAveragePooling1d());
  model.add(
    tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
  );
  return model;
}

export function mnistMetadata(overrides: Partial<ModelMetadata> = {}): ModelMetadata {
  return {
    format: 'kaskade.model/v1',
    model: 'mnist-cnn',
    dataset: 'mnist',
    jobId: 'job-a',
    round: 3,
    rounds: 3,
    testAccuracy: 0.9731,
    testLoss: 0.0912,
    createdAt: '2025-01-01T00:00:00.000Z',
    labels: DIGITS,
    input: { kind: 'image', height: 28, width: 28, channels: 1, framing: 'digit' },
    ...overrides,
  };
}

export function tokenMetadata(overrides: Partial<ModelMetadata> = {}): ModelMetadata {
  return {
    ...mnistMetadata(),
    model: 'imdb-fast',
    dataset: 'imdb',
    labels: ['negative', 'positive'],
    input: { kind: 'tokens', sequenceLength: 12, vocabularySize: 50, padIndex: 0, oovIndex: 2 },
    ...overrides,
  };
}

/** Saves `model` + metadata into `<prefix><folder>/` without touching the pointer. */
export async function writeModelFolder(
  store: Store,
  prefixUrl: string,
  folder: string,
  model: tfjs.LayersModel,
  metadata: ModelMetadata,
): Promise<string> {
  const folderUrl = `${prefixUrl}${folder}/`;
  await model.save(store.modelHandler(folderUrl));
  await store.write(`${folderUrl}${MODEL_METADATA_FILE}`, encodeModelMetadata(metadata));
  return folderUrl;
}

/** Writes the folder, then points LATEST at it, relative to the prefix (the pointer last, as a job publishes). */
export async function publishModel(
  store: Store,
  prefixUrl: string,
  folder: string,
  model: tfjs.LayersModel,
  metadata: ModelMetadata,
): Promise<string> {
  const folderUrl = await writeModelFolder(store, prefixUrl, folder, model, metadata);
  await publishLatest(store, prefixUrl, `${folder}/`);
  return folderUrl;
}

/**
 * Publishes `model` as `<modelsUrl><name>/<job>/round-<round>/` (with a vocabulary file beside
 * it when `words` are given) and points that name's LATEST at it.
 */
export async function publishNamed(
  store: Store,
  modelsUrl: string,
  name: string,
  model: tfjs.LayersModel,
  metadata: ModelMetadata,
  words?: readonly string[],
): Promise<string> {
  const folder = `${metadata.jobId}/round-${metadata.round}`;
  const prefix = `${modelsUrl}${name}/`;
  const described =
    words !== undefined && metadata.input.kind === 'tokens'
      ? { ...metadata, input: { ...metadata.input, vocabularyFile: VOCABULARY_FILE } }
      : metadata;
  const folderUrl = await writeModelFolder(store, prefix, folder, model, described);
  if (words !== undefined) await store.write(`${folderUrl}${VOCABULARY_FILE}`, encodeVocabulary(words));
  await publishLatest(store, prefix, `${folder}/`);
  return folderUrl;
}

/** A flat 28×28 image with a vertical bar, values in [0, 1]. */
export function barImage(): number[] {
  const pixels: number[] = new Array<number>(784).fill(0);
  for (let y = 4; y < 24; y++) for (let x = 13; x < 16; x++) pixels[y * 28 + x] = 1;
  return pixels;
}
