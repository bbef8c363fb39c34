// The two kinds of safetensors files a job writes, and their codecs:
//
// - examples (a shard, the test set): `x` (F32 images or I32 token ids, [n, ...shape]) and
//   `y` (U8 labels, [n]); metadata `classes`.
// - weights (the initial model, each shard's result, each round's average): one tensor per
//   model weight, named by position (`w0000`, `w0001`, …, the order of model.getWeights(), which
//   is the same for every model built from one architecture; layer names are not, since TF.js
//   numbers them per process). Metadata `weightNames` keeps the layer names for readers, and
//   a shard result adds its example count and metrics, so the weights and the result they
//   belong to are one object, written once.
import type * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import type { Examples } from '../data/types.js';
import type { WeightSet, WeightTensor } from '../fedavg/average.js';
import { decodeTensors, encodeTensors, type Metadata, type WireTensor } from '../wire/safetensors.js';

type TF = typeof tf;

/** The metadata key under which a shard's weights carry their `shard.trained` result (JSON). */
export const SHARD_RESULT_KEY = 'shardTrained';

// ---------------------------------------------------------------------------------------------
// Examples

export function encodeExamples(set: Examples): Uint8Array {
  const shape = [set.n, ...set.shape];
  const x: WireTensor =
    set.x instanceof Float32Array ? { dtype: 'F32', shape, data: set.x } : { dtype: 'I32', shape, data: set.x };
  return encodeTensors({ x, y: { dtype: 'U8', shape: [set.n], data: set.y } }, { classes: String(set.classes) });
}

export function decodeExamples(bytes: Uint8Array, where: string): Examples {
  const { tensors, metadata } = decodeTensors(bytes);
  const x = tensors.x;
  const y = tensors.y;
  if (!x || (x.dtype !== 'F32' && x.dtype !== 'I32'))
    throw new BadInputError(`${where}: needs an F32 or I32 tensor "x"`);
  if (!y || y.dtype !== 'U8' || y.shape.length !== 1)
    throw new BadInputError(`${where}: needs a U8 tensor "y" of rank 1`);
  const n = y.shape[0] ?? 0;
  if (x.shape[0] !== n || x.shape.length < 2)
    throw new BadInputError(`${where}: x has shape [${x.shape.join(', ')}], y has ${n} labels`);
  const classes = Number(metadata?.classes);
  if (!Number.isInteger(classes) || classes < 1 || classes > 255)
    throw new BadInputError(`${where}: metadata "classes" must be an integer 1..255`);
  for (let i = 0; i < n; i++) {
    if ((y.data[i] ?? 0) >= classes)
      throw new BadInputError(`${where}: label ${y.data[i]} at ${i} is not below ${classes}`);
  }
  return { x: x.data, y: y.data, n, shape: x.shape.slice(1), classes };
}

// ---------------------------------------------------------------------------------------------
// Weights

/** A weights file: tensors by position name, in order, and its string metadata. */
export interface WeightsFile {
  readonly weights: WeightSet;
  readonly metadata: Metadata;
}

export function weightKey(i: number): string {
  return `w${String(i).padStart(4, '0')}`;
}

/** A copy of a model's current weights, named by position, read without blocking the backend. */
export async function readWeightSet(model: tf.LayersModel): Promise<WeightSet> {
  const variables = model.weights;
  const tensors = model.getWeights();
  const values = await Promise.all(tensors.map((t) => t.data<'float32'>()));
  const weights: Record<string, WeightTensor> = {};
  tensors.forEach((t, i) => {
    if (t.dtype !== 'float32')
      throw new BadInputError(`weight ${variables[i]?.name ?? i} is ${t.dtype}; only float32 weights are averaged`);
    const data = values[i];
    if (data) weights[weightKey(i)] = { shape: [...t.shape], data: Float32Array.from(data) };
  });
  return weights;
}

/** Reads a model's current weights and encodes them, keeping the layer names as metadata. */
export async function encodeModelWeights(model: tf.LayersModel, metadata: Metadata = {}): Promise<Uint8Array> {
  return encodeWeightSet(await readWeightSet(model), {
    ...metadata,
    weightNames: JSON.stringify(model.weights.map((v) => v.name)),
  });
}

/** Encodes averaged weights (plain data) in the same layout. */
export function encodeWeightSet(weights: WeightSet, metadata: Metadata = {}): Uint8Array {
  const wire: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(weights)) {
    wire[name] =
      t.data instanceof Float32Array
        ? { dtype: 'F32', shape: [...t.shape], data: t.data }
        : { dtype: 'I32', shape: [...t.shape], data: t.data };
  }
  return encodeTensors(wire, metadata);
}

export function decodeWeights(bytes: Uint8Array, where: string): WeightsFile {
  const { tensors, metadata } = decodeTensors(bytes);
  const names = Object.keys(tensors)
    .filter((n) => /^w\d{4}$/.test(n))
    .sort();
  if (names.length === 0 || names.length !== Object.keys(tensors).length)
    throw new BadInputError(`${where}: not a weights file (tensors w0000, w0001, …)`);
  const weights: Record<string, WeightTensor> = {};
  names.forEach((name, i) => {
    const t = tensors[name];
    if (name !== weightKey(i) || !t) throw new BadInputError(`${where}: weight ${weightKey(i)} is missing`);
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new BadInputError(`${where}: weight ${name} is ${t.dtype}`);
    weights[name] = { shape: t.shape, data: t.data };
  });
  return { weights, metadata: metadata ?? {} };
}

/** Loads weights into a model built from the job's architecture; checks count and shapes. */
export function applyWeights(tfjs: TF, model: tf.LayersModel, weights: WeightSet, where: string): void {
  const variables = model.weights;
  const names = Object.keys(weights);
  if (names.length !== variables.length)
    throw new BadInputError(`${where}: ${names.length} weights for a model with ${variables.length}`);
  const checked = variables.map((v, i) => {
    const w = weights[weightKey(i)];
    if (!w) throw new BadInputError(`${where}: weight ${weightKey(i)} is missing`);
    if (w.shape.join(',') !== v.shape.join(',')) {
      throw new BadInputError(
        `${where}: weight ${weightKey(i)} has shape [${w.shape.join(', ')}], the model's ${v.name} has [${v.shape.join(', ')}]`,
      );
    }
    return w;
  });
  const tensors = checked.map((w) => tfjs.tensor(w.data, [...w.shape], 'float32'));
  try {
    model.setWeights(tensors);
  } finally {
    for (const t of tensors) t.dispose();
  }
}
