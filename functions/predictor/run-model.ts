// Running a batch through a loaded model: tensors live only inside this function (a tidy scope
// plus one explicit dispose), so no request, failed or not, leaves a tensor behind.
import { InferenceError } from '../_shared/errors.js';
import type * as tfjs from '@tensorflow/tfjs';
import type { ModelBatch } from './tensor-input.js';

export type TF = typeof tfjs;

/** Class probabilities, row-major `[n, classes]`. */
export interface Probabilities {
  readonly n: number;
  readonly classes: number;
  readonly values: Float32Array;
}

/** Runs one validated batch on the model a request holds (directly, or through the batcher). */
export type Predict = (batch: ModelBatch) => Promise<Probabilities>;

/**
 * Predicts class probabilities. A single sigmoid unit p becomes two classes [1 − p, p], so
 * every model answers a distribution over its labels.
 */
export async function predictProbabilities(tf: TF, model: tfjs.LayersModel, batch: ModelBatch): Promise<Probabilities> {
  const out = tf.tidy(() => {
    const x =
      batch.dtype === 'float32'
        ? tf.tensor(batch.values, [...batch.shape], 'float32')
        : tf.tensor(batch.values, [...batch.shape], 'int32');
    const y = model.predict(x);
    // The loader only serves single-output models (checkModelFitsMetadata).
    if (Array.isArray(y)) throw new InferenceError('the served model has several outputs');
    const rows = y.reshape([batch.shape[0] ?? 0, -1]);
    return rows.shape[1] === 1 ? tf.concat([tf.sub(1, rows), rows], 1) : rows;
  });
  try {
    const values = await out.data<'float32'>();
    return { n: out.shape[0] ?? 0, classes: out.shape[1] ?? 0, values };
  } finally {
    out.dispose();
  }
}
