// From plain examples to tensors, one batch at a time, and subsets by index (shards, prefixes).
import type * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import { exampleSize, type Examples, type ImageSet, type TokenSet } from './types.js';

type TF = typeof tf;

/**
 * How labels become a target tensor: `one-hot` float32 [b, classes] for a softmax output,
 * `binary` float32 [b, 1] for a single sigmoid unit.
 */
export type LabelEncoding = 'one-hot' | 'binary';

/** The examples at `indices`, copied, in that order. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet;
export function subset(set: TokenSet, indices: ArrayLike<number>): TokenSet;
export function subset(set: Examples, indices: ArrayLike<number>): Examples;
export function subset(set: Examples, indices: ArrayLike<number>): Examples {
  const size = exampleSize(set.shape);
  const n = indices.length;
  const x = gatherRows(set.x, indices, 0, n, size);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const src = indices[i] ?? -1;
    if (!Number.isInteger(src) || src < 0 || src >= set.n)
      throw new BadInputError(`index ${src} is outside 0..${set.n - 1}`);
    y[i] = set.y[src] ?? 0;
  }
  return { x, y, n, shape: set.shape, classes: set.classes };
}

function gatherRows(
  source: Float32Array | Int32Array,
  indices: ArrayLike<number>,
  start: number,
  end: number,
  size: number,
): Float32Array | Int32Array {
  const out =
    source instanceof Float32Array ? new Float32Array((end - start) * size) : new Int32Array((end - start) * size);
  for (let i = start; i < end; i++) {
    const src = indices[i] ?? 0;
    out.set(source.subarray(src * size, (src + 1) * size), (i - start) * size);
  }
  return out;
}

export function encodeLabels(
  labels: ArrayLike<number>,
  start: number,
  end: number,
  classes: number,
  encoding: LabelEncoding,
  indices?: ArrayLike<number>,
): Float32Array {
  const b = end - start;
  if (encoding === 'binary') {
    const out = new Float32Array(b);
    for (let i = 0; i < b; i++) out[i] = labels[indices ? (indices[start + i] ?? 0) : start + i] ?? 0;
    return out;
  }
  const out = new Float32Array(b * classes);
  for (let i = 0; i < b; i++) {
    const label = labels[indices ? (indices[start + i] ?? 0) : start + i] ?? 0;
    out[i * classes + label] = 1;
  }
  return out;
}

export interface Batch {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor;
}

/**
 * Tensors for examples [start, end) of `order` (or of the set itself when no order is
 * given: then x is a view, not a copy). The caller disposes them (or makes them in a tidy).
 */
export function batchTensors(
  tfjs: TF,
  set: Examples,
  start: number,
  end: number,
  encoding: LabelEncoding,
  order?: ArrayLike<number>,
): Batch {
  const size = exampleSize(set.shape);
  const b = end - start;
  const rows = order ? gatherRows(set.x, order, start, end, size) : set.x.subarray(start * size, end * size);
  const x = tfjs.tensor(rows, [b, ...set.shape], rows instanceof Float32Array ? 'float32' : 'int32');
  const targets = encodeLabels(set.y, start, end, set.classes, encoding, order);
  const y = tfjs.tensor2d(targets, [b, encoding === 'binary' ? 1 : set.classes]);
  return { x, y };
}
