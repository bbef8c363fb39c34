// What every layer converter of the ONNX exporter works with: graph values that remember the
// TF.js shape they stand for and whether they are held channels-first (ONNX's convolution and
// pooling layout), host copies of the layer's weights, and the activation functions.
import { UnsupportedModelError } from '../errors.js';
import type { GraphBuilder, GraphDtype } from './onnx-graph.js';

export interface Value {
  readonly name: string;
  /** The TF.js (channels-last) shape; -1 for the batch and any other unknown dimension. */
  readonly shape: readonly number[];
  /** True when a rank-4 value is held as NCHW in the graph (its TF.js shape is NHWC). */
  readonly nchw: boolean;
  readonly dtype: GraphDtype;
}

export interface HostWeight {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export interface LayerContext {
  readonly g: GraphBuilder;
  readonly name: string;
  readonly className: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly weights: readonly HostWeight[];
  /** TF.js shapes of the layer's outputs at this call. */
  readonly outputShapes: readonly (readonly number[])[];
}

export type LayerConverter = (ctx: LayerContext, inputs: readonly Value[]) => Value[];

export function refuse(ctx: Pick<LayerContext, 'name' | 'className'>, why: string): never {
  throw new UnsupportedModelError(`cannot export layer "${ctx.name}" (${ctx.className}) to ONNX: ${why}`);
}

export function weight(ctx: LayerContext, index: number): HostWeight {
  const w = ctx.weights[index];
  if (w === undefined) refuse(ctx, `weight ${index} is missing`);
  return w;
}

export function outShape(ctx: LayerContext, index = 0): readonly number[] {
  const s = ctx.outputShapes[index];
  if (s === undefined) refuse(ctx, `output ${index} has no shape`);
  return s;
}

export function one(ctx: LayerContext, inputs: readonly Value[]): Value {
  const [x] = inputs;
  if (x === undefined || inputs.length !== 1) refuse(ctx, `expected one input, got ${inputs.length}`);
  return x;
}

export function str(ctx: LayerContext, key: string, fallback?: string): string {
  const v = ctx.config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    refuse(ctx, `config "${key}" is missing`);
  }
  if (typeof v !== 'string') refuse(ctx, `config "${key}" is not a string`);
  return v;
}

export function num(ctx: LayerContext, key: string, fallback?: number): number {
  const v = ctx.config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    refuse(ctx, `config "${key}" is missing`);
  }
  if (typeof v !== 'number') refuse(ctx, `config "${key}" is not a number`);
  return v;
}

export function bool(ctx: LayerContext, key: string, fallback: boolean): boolean {
  const v = ctx.config[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** A number or a pair of numbers in the config, as a pair. */
export function pair(ctx: LayerContext, key: string, fallback?: readonly [number, number]): [number, number] {
  const v = ctx.config[key];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number'))
    return [v[0] as number, v[1] as number];
  if ((v === undefined || v === null) && fallback) return [fallback[0], fallback[1]];
  refuse(ctx, `config "${key}" is not a number or a pair`);
}

/** A rank-4 value held as NCHW (transposing a channels-last one). */
export function toNchw(g: GraphBuilder, v: Value): Value {
  if (v.nchw) return v;
  if (v.shape.length !== 4) return v;
  return { ...v, name: g.node('Transpose', [v.name], `${v.name}_nchw`, { perm: [0, 3, 1, 2] }), nchw: true };
}

/** A value in TF.js's own layout (transposing an NCHW one back to channels-last). */
export function toPlain(g: GraphBuilder, v: Value): Value {
  if (!v.nchw) return v;
  return { ...v, name: g.node('Transpose', [v.name], `${v.name}_nhwc`, { perm: [0, 2, 3, 1] }), nchw: false };
}

/** `data` of `shape` with its axes permuted (a host-side transpose for weights). */
export function transposeHost(w: HostWeight, perm: readonly number[]): HostWeight {
  const { data, shape } = w;
  const rank = shape.length;
  const outShapeDims = perm.map((p) => shape[p] ?? 1);
  const inStrides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) inStrides[k] = (inStrides[k + 1] ?? 1) * (shape[k + 1] ?? 1);
  const strides = perm.map((p) => inStrides[p] ?? 0);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += (index[k] ?? 0) * (strides[k] ?? 0);
    out[o] = data[src] ?? 0;
    for (let k = rank - 1; k >= 0; k--) {
      index[k] = (index[k] ?? 0) + 1;
      if ((index[k] ?? 0) < (outShapeDims[k] ?? 1)) break;
      index[k] = 0;
    }
  }
  return { data: out, shape: outShapeDims };
}

/** Applies a TF.js activation (by its serialized name) to `x`; refuses one it cannot write. */
export function activation(ctx: LayerContext, x: Value, name: string): Value {
  const { g } = ctx;
  const hint = `${ctx.name}_${name}`;
  const op = (type: string, attrs: Readonly<Record<string, number | { float: number }>> = {}): Value => ({
    ...x,
    name: g.node(type, [x.name], hint, attrs),
  });
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return op('Relu');
    case 'sigmoid':
      return op('Sigmoid');
    case 'tanh':
      return op('Tanh');
    case 'elu':
      return op('Elu', { alpha: { float: 1 } });
    case 'selu':
      return op('Selu');
    case 'softplus':
      return op('Softplus');
    case 'softsign':
      return op('Softsign');
    case 'hardSigmoid':
      return op('HardSigmoid', { alpha: { float: 0.2 }, beta: { float: 0.5 } });
    case 'relu6':
      return {
        ...x,
        name: g.node(
          'Clip',
          [x.name, g.floats(`${hint}_min`, Float32Array.of(0), []), g.floats(`${hint}_max`, Float32Array.of(6), [])],
          hint,
        ),
      };
    case 'swish':
      return { ...x, name: g.node('Mul', [x.name, g.node('Sigmoid', [x.name], `${hint}_sigmoid`)], hint) };
    case 'softmax': {
      // TF.js takes the softmax over the last axis of its own (channels-last) layout.
      const plain = toPlain(g, x);
      return { ...plain, name: g.node('Softmax', [plain.name], hint, { axis: -1 }) };
    }
    default:
      refuse(ctx, `activation "${name}" has no ONNX form here`);
  }
}
