// Between a TF.js layers model and a WeightSet (the plain form federated averaging and the
// safetensors codec use). Tensors are named by position plus the variable's own last name
// part ("000/kernel", "001/bias", ...): TF.js makes layer names unique per process
// ("conv2d_Conv2D3"), so two copies of one architecture would not share full names, but
// they always share this order.
import type * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import type { WeightSet, WeightTensor } from './average.js';

type TF = typeof tf;

export function weightName(index: number, variableName: string): string {
  return `${String(index).padStart(3, '0')}/${variableName.split('/').at(-1) ?? variableName}`;
}

/** A copy of every weight of the model (trainable or not), read synchronously. */
export function readModelWeights(model: tf.LayersModel): Record<string, WeightTensor> {
  const out: Record<string, WeightTensor> = {};
  model.weights.forEach((variable, i) => {
    const value = variable.read();
    const data = value.dtype === 'int32' ? Int32Array.from(value.dataSync()) : Float32Array.from(value.dataSync());
    out[weightName(i, variable.originalName)] = { shape: [...value.shape], data };
  });
  return out;
}

/** Sets every weight of the model from a set read from the same architecture. */
export function writeModelWeights(tfjs: TF, model: tf.LayersModel, weights: WeightSet): void {
  const names = Object.keys(weights);
  if (names.length !== model.weights.length) {
    throw new BadInputError(`weight set has ${names.length} tensors, the model has ${model.weights.length}`);
  }
  const tensors = model.weights.map((variable, i) => {
    const name = weightName(i, variable.originalName);
    const t = weights[name];
    if (!t) throw new BadInputError(`weight set has no tensor "${name}"`);
    const want = variable.shape.join(',');
    if (t.shape.join(',') !== want) throw new BadInputError(`tensor "${name}" has shape [${t.shape.join(', ')}], the model wants [${want}]`);
    return t;
  });
  const values = tensors.map((t) => tfjs.tensor(t.data, [...t.shape], t.data instanceof Int32Array ? 'int32' : 'float32'));
  try {
    model.setWeights(values);
  } finally {
    tfjs.dispose(values);
  }
}
