// The original design's JSON forms: tensors as nested number lists, images in PyTorch's NCHW
// order. They are converted here, at the edge, to the NHWC float32 tensors the layer computes
// on, and back; the pipeline itself never sends JSON numbers.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError } from '../_shared/errors.js';

/** A nested list of finite numbers as a float32 tensor; 4-D input is read as NCHW. */
export function tensorFromJson(tf: typeof tfjs, value: unknown, field: string): tfjs.Tensor {
  if (!Array.isArray(value)) throw new BadInputError(`"${field}" must be a nested list of numbers`);
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) shape.push(level.length);
  const flat = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let i = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number' || !Number.isFinite(node)) throw new BadInputError(`"${field}" must hold finite numbers only`);
      flat[i++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) throw new BadInputError(`"${field}" is ragged: every list at depth ${depth} must have ${shape[depth]} entries`);
    for (const child of node) walk(child, depth + 1);
  };
  walk(value, 0);
  const t = tf.tensor(flat, shape, 'float32');
  if (t.rank !== 4) return t;
  const nhwc = tf.transpose(t, [0, 2, 3, 1]);
  t.dispose();
  return nhwc;
}

/** A tensor as a nested list; 4-D output is written as NCHW. */
export async function tensorToJson(tf: typeof tfjs, t: tfjs.Tensor): Promise<unknown> {
  if (t.rank !== 4) return t.array();
  const nchw = tf.transpose(t, [0, 3, 1, 2]);
  try {
    return await nchw.array();
  } finally {
    nchw.dispose();
  }
}
