// The original design's JSON forms: tensors as nested number lists, images in PyTorch's NCHW
// order. They are converted here, at the edge, to the NHWC float32 arrays the pipeline computes
// on, and back; the pipeline itself never sends JSON numbers.
import { BadInputError } from '../errors.js';

export interface FlatTensor {
  readonly shape: number[];
  readonly data: Float32Array;
}

/** A nested list of finite numbers as a flat float32 tensor; 4-D input is read as NCHW → NHWC. */
export function tensorFromJson(value: unknown, field: string, maxElements = 256 * 1024 * 1024): FlatTensor {
  if (!Array.isArray(value)) throw new BadInputError(`"${field}" must be a nested list of numbers`);
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) shape.push(level.length);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > maxElements) throw new BadInputError(`"${field}" has ${size} elements, more than ${maxElements}`);
  const flat = new Float32Array(size);
  let i = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number' || !Number.isFinite(node))
        throw new BadInputError(`"${field}" must hold finite numbers only`);
      flat[i++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth])
      throw new BadInputError(`"${field}" is ragged: every list at depth ${depth} must have ${shape[depth]} entries`);
    for (const child of node) walk(child, depth + 1);
  };
  walk(value, 0);
  return shape.length === 4 ? permute4(flat, shape, [0, 2, 3, 1]) : { shape, data: flat };
}

/** A flat tensor as a nested list; 4-D (NHWC) is written as NCHW. */
export function tensorToJson(t: FlatTensor): unknown {
  const { shape, data } = t.shape.length === 4 ? permute4(t.data, t.shape, [0, 3, 1, 2]) : t;
  let offset = 0;
  const build = (depth: number): unknown => {
    const n = shape[depth] ?? 0;
    if (depth === shape.length - 1) {
      const row = Array.from(data.subarray(offset, offset + n));
      offset += n;
      return row;
    }
    return Array.from({ length: n }, () => build(depth + 1));
  };
  return shape.length === 0 ? (data[0] ?? 0) : build(0);
}

/** Transposes a 4-D row-major array: output axis i is input axis `order[i]`. */
function permute4(data: Float32Array, shape: readonly number[], order: readonly number[]): FlatTensor {
  const out = new Float32Array(data.length);
  const outShape = order.map((a) => shape[a] ?? 0);
  const inStrides = [0, 0, 0, 0];
  for (let a = 3, s = 1; a >= 0; a--) {
    inStrides[a] = s;
    s *= shape[a] ?? 0;
  }
  const strides = order.map((a) => inStrides[a] ?? 0);
  const [d0, d1, d2, d3] = outShape as [number, number, number, number];
  const [s0, s1, s2, s3] = strides as [number, number, number, number];
  let o = 0;
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++)
      for (let k = 0; k < d2; k++) for (let l = 0; l < d3; l++) out[o++] = data[i * s0 + j * s1 + k * s2 + l * s3] ?? 0;
  return { shape: outShape, data: out };
}
