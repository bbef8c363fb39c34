// The driver-identification model: a window of 40 rows × 15 CAN-bus signals, standardised with
// the training set's per-signal mean and deviation, through an LSTM to one of 10 drivers. The
// standardisation and the driver names travel inside model.json (user-defined metadata), so a
// saved model is complete on its own.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, InferenceError } from '../_shared/errors.js';
import type { OnnxSettings } from '../_shared/serving/config.js';
import { exportOnnx } from '../_shared/serving/export-onnx.js';
import { openOnnxModel } from '../_shared/serving/onnx-model.js';
import { permutation } from '../_shared/data/random.js';
import { DRIVERS, FEATURES, FEATURE_COUNT, WINDOW_ROWS, type DrivingWindows } from './driving-data.js';

type TF = typeof tfjs;

export interface DriverModelMetadata {
  kind: 'kaskade.edge-scalar/v1';
  features: string[];
  drivers: string[];
  mean: number[];
  std: number[];
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  units?: number;
  learningRate?: number;
  seed?: number;
}

export interface DriverPrediction {
  driver: string;
  /** The winning class's softmax probability × 100 (the seed's confidence). */
  confidence: number;
  /** Time spent in the model, in milliseconds. */
  executionMs: number;
}

export function buildDriverLstm(tf: TF, options: TrainOptions = {}): tfjs.Sequential {
  const seed = options.seed ?? 7;
  const model = tf.sequential({
    name: 'driver_lstm',
    layers: [
      tf.layers.lstm({
        name: 'lstm',
        inputShape: [WINDOW_ROWS, FEATURE_COUNT],
        units: options.units ?? 32,
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
      }),
      tf.layers.dense({
        name: 'driver',
        units: DRIVERS.length,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }),
      }),
    ],
  });
  model.compile({
    optimizer: tf.train.adam(options.learningRate ?? 0.01),
    loss: 'sparseCategoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/** Per-signal mean and standard deviation over every row of the windows. */
export function standardisation(data: DrivingWindows): { mean: number[]; std: number[] } {
  const rows = data.n * WINDOW_ROWS;
  const mean = new Array<number>(FEATURE_COUNT).fill(0);
  const sq = new Array<number>(FEATURE_COUNT).fill(0);
  for (let i = 0; i < rows; i += 1) {
    for (let f = 0; f < FEATURE_COUNT; f += 1) {
      const v = data.x[i * FEATURE_COUNT + f]!;
      mean[f]! += v;
      sq[f]! += v * v;
    }
  }
  for (let f = 0; f < FEATURE_COUNT; f += 1) {
    mean[f] = mean[f]! / rows;
    sq[f] = Math.sqrt(Math.max(sq[f]! / rows - mean[f]! ** 2, 1e-6));
  }
  return { mean, std: sq };
}

function standardise(x: Float32Array, meta: Pick<DriverModelMetadata, 'mean' | 'std'>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += 1) {
    const f = i % FEATURE_COUNT;
    out[i] = (x[i]! - meta.mean[f]!) / meta.std[f]!;
  }
  return out;
}

/** Trains a fresh LSTM on the windows; the returned model carries its metadata. */
export async function trainDriverModel(
  tf: TF,
  data: DrivingWindows,
  options: TrainOptions = {},
): Promise<{ model: tfjs.LayersModel; accuracy: number }> {
  const { mean, std } = standardisation(data);
  const meta: DriverModelMetadata = {
    kind: 'kaskade.edge-scalar/v1',
    features: [...FEATURES],
    drivers: [...DRIVERS],
    mean,
    std,
  };
  const order = permutation(data.n, options.seed ?? 7);
  const size = WINDOW_ROWS * FEATURE_COUNT;
  const xs = new Float32Array(data.n * size);
  const ys = new Float32Array(data.n);
  order.forEach((src, dst) => {
    xs.set(data.x.subarray(src * size, (src + 1) * size), dst * size);
    ys[dst] = data.y[src]!;
  });
  const model = buildDriverLstm(tf, options);
  const x = tf.tensor3d(standardise(xs, meta), [data.n, WINDOW_ROWS, FEATURE_COUNT]);
  const y = tf.tensor1d(ys);
  try {
    const history = await model.fit(x, y, {
      epochs: options.epochs ?? 8,
      batchSize: options.batchSize ?? 32,
      shuffle: true,
      verbose: 0,
    });
    const acc = history.history.acc ?? history.history.accuracy ?? [];
    model.setUserDefinedMetadata(meta);
    return { model, accuracy: Number(acc[acc.length - 1] ?? 0) };
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** The metadata a saved model carries; BadInputError when it is not a driver model. */
export function driverMetadata(model: tfjs.LayersModel): DriverModelMetadata {
  const meta = model.getUserDefinedMetadata() as Partial<DriverModelMetadata> | undefined;
  const ok =
    meta?.kind === 'kaskade.edge-scalar/v1' &&
    Array.isArray(meta.drivers) &&
    Array.isArray(meta.mean) &&
    Array.isArray(meta.std) &&
    meta.mean.length === FEATURE_COUNT &&
    meta.std.length === FEATURE_COUNT;
  if (!ok)
    throw new BadInputError(
      `model ${model.name} is not a driver model (its model.json lacks kaskade.edge-scalar/v1 metadata)`,
    );
  const shape = model.inputs[0]?.shape;
  if (shape?.[1] !== WINDOW_ROWS || shape[2] !== FEATURE_COUNT)
    throw new BadInputError(
      `driver model input must be [null, ${WINDOW_ROWS}, ${FEATURE_COUNT}], got ${JSON.stringify(shape)}`,
    );
  return meta as DriverModelMetadata;
}

/** Runs the model on one standardised window: TF.js or ONNX Runtime behind one seam. */
interface DriverEngine {
  readonly name: 'tfjs' | 'onnx';
  probabilities(standardised: Float32Array): Promise<Float32Array>;
  dispose(): void;
}

/** A loaded model that classifies single windows (any number of callers at once). */
export class DriverClassifier {
  readonly metadata: DriverModelMetadata;
  private readonly engine: DriverEngine;

  /** On TF.js; `DriverClassifier.onOnnx` puts the same model on ONNX Runtime. */
  constructor(tf: TF, model: tfjs.LayersModel);
  constructor(metadata: DriverModelMetadata, engine: DriverEngine);
  constructor(a: TF | DriverModelMetadata, b: tfjs.LayersModel | DriverEngine) {
    if ('kind' in a) {
      this.metadata = a;
      this.engine = b as DriverEngine;
      return;
    }
    const tf = a;
    const model = b as tfjs.LayersModel;
    this.metadata = driverMetadata(model);
    this.engine = {
      name: 'tfjs',
      probabilities: (x) =>
        Promise.resolve(
          tf.tidy(
            () =>
              (
                model.predict(tf.tensor3d(x, [1, WINDOW_ROWS, FEATURE_COUNT])) as tfjs.Tensor
              ).dataSync() as Float32Array,
          ),
        ),
      dispose: () => model.dispose(),
    };
  }

  /** Exports the model to ONNX (the project's exporter: LSTM included), opens it on ONNX Runtime, and disposes the TF.js copy. */
  static async onOnnx(model: tfjs.LayersModel, settings: OnnxSettings): Promise<DriverClassifier> {
    try {
      const metadata = driverMetadata(model);
      const session = await openOnnxModel(exportOnnx(model), settings, 'driver model');
      const input = session.inputs[0];
      const output = session.outputs[0];
      if (input === undefined || output === undefined)
        throw new InferenceError('the ONNX driver model has no input or output');
      return new DriverClassifier(metadata, {
        name: 'onnx',
        probabilities: async (x) => {
          const answer = await session.run({
            [input.name]: { dtype: 'float32', shape: [1, WINDOW_ROWS, FEATURE_COUNT], data: x },
          });
          const probs = answer[output.name]?.data;
          if (!(probs instanceof Float32Array))
            throw new InferenceError(`the ONNX driver model answered no float32 "${output.name}"`);
          return probs;
        },
        dispose: () => void session.dispose(),
      });
    } finally {
      model.dispose();
    }
  }

  get engineName(): 'tfjs' | 'onnx' {
    return this.engine.name;
  }

  /** Classifies one window of WINDOW_ROWS × FEATURE_COUNT values (already checked). */
  async classify(window: Float32Array): Promise<DriverPrediction> {
    const t0 = performance.now();
    const probs = await this.engine.probabilities(standardise(window, this.metadata));
    let best = 0;
    for (let i = 1; i < probs.length; i += 1) if (probs[i]! > probs[best]!) best = i;
    const executionMs = performance.now() - t0;
    return {
      driver: this.metadata.drivers[best] ?? String(best),
      confidence: Math.round(probs[best]! * 10_000) / 100,
      executionMs: Math.round(executionMs * 1000) / 1000,
    };
  }

  dispose(): void {
    this.engine.dispose();
  }
}
