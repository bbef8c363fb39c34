// Comparing a TF.js layers model with its ONNX export on ONNX Runtime: the same inputs through
// both, the largest absolute difference of their outputs.
import type * as tfjs from '@tensorflow/tfjs';
import { seededRandom } from '../../functions/_shared/data/random.js';
import type { OnnxSettings } from '../../functions/_shared/serving/config.js';
import { exportOnnx } from '../../functions/_shared/serving/export-onnx.js';
import { openOnnxModel } from '../../functions/_shared/serving/onnx-model.js';

type TF = typeof tfjs;

export const TEST_ONNX_SETTINGS: OnnxSettings = {
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimization: 'all',
  executionProviders: ['cpu'],
  ownThread: true,
};

/** Uniform values in [lo, hi) from a seed. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
}

/**
 * Gives every weight seeded random values, as a trained model has (non-zero biases, batch norm
 * statistics away from 0 and 1); variances stay positive. `only` picks which weights change
 * (by layer and weight name, e.g. "conv1/kernel"); the others keep their values.
 */
export function randomiseWeights(
  tf: TF,
  model: tfjs.LayersModel,
  seed: number,
  only: (layer: tfjs.layers.Layer, weight: string) => boolean = () => true,
): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.getWeights().map((w, k) => {
      const name = layer.weights[k]?.originalName ?? '';
      const seedHere = s++;
      if (!only(layer, name)) return w.clone();
      const positive = name.endsWith('variance') || name.endsWith('gamma');
      return tf.tensor(positive ? uniform(w.size, seedHere, 0.5, 1.5) : uniform(w.size, seedHere, -0.5, 0.5), w.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

export interface Parity {
  readonly maxAbsDiff: number;
  readonly tfjs: Float32Array;
  readonly onnx: Float32Array;
  readonly bytes: Uint8Array;
}

/** Runs `x` through the model on TF.js and through its ONNX export on ONNX Runtime. */
export async function onnxParity(tf: TF, model: tfjs.LayersModel, x: tfjs.Tensor): Promise<Parity> {
  const bytes = exportOnnx(model);
  const served = await openOnnxModel(bytes, TEST_ONNX_SETTINGS, model.name);
  try {
    const expected = tf.tidy(() => {
      const y = model.predict(x);
      if (Array.isArray(y)) throw new TypeError('one output expected');
      return y.dataSync<'float32'>();
    });
    const input = served.inputs[0];
    if (input === undefined) throw new TypeError('the export has no input');
    const data = input.dtype === 'int32' ? Int32Array.from(x.dataSync()) : Float32Array.from(x.dataSync());
    const out = await served.run({ [input.name]: { dtype: input.dtype, shape: x.shape, data } });
    const got = Object.values(out)[0]?.data;
    if (!(got instanceof Float32Array)) throw new TypeError('the export answered no float32 output');
    let maxAbsDiff = got.length === expected.length ? 0 : Infinity;
    for (let i = 0; i < expected.length; i++)
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs((got[i] ?? NaN) - (expected[i] ?? 0)));
    if (Number.isNaN(maxAbsDiff)) maxAbsDiff = Infinity;
    return { maxAbsDiff, tfjs: expected, onnx: got, bytes };
  } finally {
    await served.dispose();
  }
}
