// The convolution gradient kernels agree with the CPU backend on random inputs and leave
// nothing behind on the wasm heap.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  conv2dInputGradByConv,
  conv2dInputGradByMatMul,
  conv2dWeightGradByConv,
  conv2dWeightGradByMatMul,
  geometryOf,
} from './conv-grad.js';
import {
  type KernelCall,
  liveCounts,
  randomValues,
  relativeError,
  runOn,
  useWasm,
} from '../../../../test/support/kernels.js';
import { wasmBackend } from './wasm-ops.js';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number;
  dataFormat?: 'NHWC' | 'NCHW';
}

const TOLERANCE = 1e-4;

const dense: Case[] = [
  { name: 'mnist conv1 5x5 valid', x: [4, 28, 28, 1], filter: [5, 5, 1, 16], strides: 1, pad: 'valid' },
  { name: 'mnist conv2 5x5 valid', x: [3, 12, 12, 16], filter: [5, 5, 16, 32], strides: 1, pad: 'valid' },
  { name: 'odd sizes, same, stride 2', x: [3, 9, 7, 5], filter: [3, 3, 5, 4], strides: 2, pad: 'same' },
  {
    name: 'valid stride 2x3 leaving unread tail',
    x: [2, 10, 11, 3],
    filter: [3, 2, 3, 6],
    strides: [2, 3],
    pad: 'valid',
  },
  { name: '1x1 stride 2 (resnet shortcut)', x: [2, 8, 8, 4], filter: [1, 1, 4, 3], strides: 2, pad: 'valid' },
  { name: '7x7 stride 2 same (resnet stem)', x: [1, 17, 17, 3], filter: [7, 7, 3, 8], strides: 2, pad: 'same' },
  {
    name: 'explicit asymmetric padding',
    x: [2, 7, 6, 3],
    filter: [3, 3, 3, 2],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  { name: 'numeric padding, stride 2', x: [2, 9, 9, 2], filter: [3, 3, 2, 3], strides: 2, pad: 1 },
  { name: 'batch of one', x: [1, 6, 5, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'same' },
  { name: 'NCHW same', x: [2, 3, 8, 7], filter: [3, 3, 3, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' },
  { name: 'NCHW stride 2 valid', x: [2, 2, 9, 9], filter: [3, 3, 2, 3], strides: 2, pad: 'valid', dataFormat: 'NCHW' },
];

const depthwise: Case[] = [
  { name: '3x3 same (mobilenet)', x: [2, 9, 9, 4], filter: [3, 3, 4, 1], strides: 1, pad: 'same' },
  { name: '3x3 same stride 2, odd size', x: [3, 11, 7, 3], filter: [3, 3, 3, 1], strides: 2, pad: 'same' },
  { name: 'multiplier 2, valid', x: [2, 8, 9, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'valid' },
  { name: 'multiplier 3, stride 2 valid', x: [2, 9, 10, 2], filter: [2, 3, 2, 3], strides: 2, pad: 'valid' },
  { name: 'dilation 2, same', x: [2, 10, 9, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same', dilations: 2 },
  {
    name: 'dilation 2, valid, multiplier 2',
    x: [1, 11, 12, 2],
    filter: [3, 2, 2, 2],
    strides: 1,
    pad: 'valid',
    dilations: 2,
  },
  { name: 'batch of one, 5x5', x: [1, 8, 8, 5], filter: [5, 5, 5, 1], strides: 1, pad: 'same' },
];

function outShape(c: Case, isDepthwise: boolean): number[] {
  const nhwc: [number, number, number, number] = c.dataFormat === 'NCHW' ? [c.x[0], c.x[2], c.x[3], c.x[1]] : c.x;
  const info = tf.backend_util.computeConv2DInfo(
    nhwc,
    c.filter,
    c.strides,
    c.dilations ?? 1,
    c.pad,
    undefined,
    isDepthwise,
  );
  const [n, h, w, ch] = info.outShape;
  return c.dataFormat === 'NCHW' ? [n, ch, h, w] : [n, h, w, ch];
}

/** The filter of a dilated convolution spread over its effective size, with zeros between taps. */
function spread(
  filter: Float32Array,
  shape: [number, number, number, number],
  d: number,
): { values: Float32Array; shape: [number, number, number, number] } {
  const [kh, kw, c, m] = shape;
  const eh = (kh - 1) * d + 1;
  const ew = (kw - 1) * d + 1;
  const out = new Float32Array(eh * ew * c * m);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let k = 0; k < c * m; k++) out[(i * d * ew + j * d) * c * m + k] = filter[(i * kw + j) * c * m + k] ?? 0;
  return { values: out, shape: [eh, ew, c, m] };
}

/** Picks the taps of a dilated filter's gradient from the gradient of its spread-out filter. */
function gather(spreadGrad: ArrayLike<number>, shape: [number, number, number, number], d: number): Float32Array {
  const [kh, kw, c, m] = shape;
  const ew = (kw - 1) * d + 1;
  const out = new Float32Array(kh * kw * c * m);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let k = 0; k < c * m; k++) out[(i * kw + j) * c * m + k] = spreadGrad[(i * d * ew + j * d) * c * m + k] ?? 0;
  return out;
}

async function expectLeakFree(call: KernelCall): Promise<void> {
  await runOn('wasm', call); // warm: first calls may register lazily
  const before = liveCounts();
  await runOn('wasm', call);
  await runOn('wasm', call);
  expect(liveCounts()).toEqual(before);
}

beforeAll(useWasm);

describe('Conv2DBackpropFilter on wasm', () => {
  it.each(dense)('$name', async (c) => {
    const call: KernelCall = {
      kernel: 'Conv2DBackpropFilter',
      inputs: { x: { shape: c.x }, dy: { shape: outShape(c, false) } },
      attrs: { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', filterShape: c.filter },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', call)];
    expect(got.shape).toEqual(c.filter);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(TOLERANCE);
    await expectLeakFree(call);
  });
});

describe('Conv2DBackpropInput on wasm', () => {
  it.each(dense)('$name', async (c) => {
    const call: KernelCall = {
      kernel: 'Conv2DBackpropInput',
      inputs: { dy: { shape: outShape(c, false) }, filter: { shape: c.filter } },
      attrs: { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', inputShape: c.x },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', call)];
    expect(got.shape).toEqual(c.x);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(TOLERANCE);
    await expectLeakFree(call);
  });
});

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  it.each(depthwise)('$name', async (c) => {
    const d = c.dilations ?? 1;
    const dyShape = outShape(c, true);
    const x = randomValues(c.x, 11);
    const dy = randomValues(dyShape, 12);
    const call: KernelCall = {
      kernel: 'DepthwiseConv2dNativeBackpropFilter',
      inputs: { x: { shape: c.x, values: x }, dy: { shape: dyShape, values: dy } },
      attrs: { strides: c.strides, dilations: d, pad: c.pad, filterShape: c.filter },
    };
    // The CPU kernel ignores dilation, so a dilated filter is checked as its spread-out twin.
    const wide = spread(new Float32Array(tf.util.sizeFromShape(c.filter)), c.filter, d).shape;
    const reference: KernelCall = { ...call, attrs: { ...call.attrs, dilations: 1, filterShape: wide } };
    const got = await runOn('wasm', call);
    const want = gather((await runOn('cpu', reference)).values, c.filter, d);
    expect(got.shape).toEqual(c.filter);
    expect(relativeError(got.values, want)).toBeLessThanOrEqual(TOLERANCE);
    await expectLeakFree(call);
  });
});

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  it.each(depthwise)('$name', async (c) => {
    const d = c.dilations ?? 1;
    const dyShape = outShape(c, true);
    const filter = randomValues(c.filter, 21);
    const dy = randomValues(dyShape, 22);
    const call: KernelCall = {
      kernel: 'DepthwiseConv2dNativeBackpropInput',
      inputs: { dy: { shape: dyShape, values: dy }, filter: { shape: c.filter, values: filter } },
      attrs: { strides: c.strides, dilations: d, pad: c.pad, inputShape: c.x },
    };
    const wide = spread(filter, c.filter, d);
    const reference: KernelCall = {
      ...call,
      inputs: { dy: { shape: dyShape, values: dy }, filter: { shape: wide.shape, values: wide.values } },
      attrs: { ...call.attrs, dilations: 1 },
    };
    const [got, want] = [await runOn('wasm', call), await runOn('cpu', reference)];
    expect(got.shape).toEqual(c.x);
    expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(TOLERANCE);
    await expectLeakFree(call);
  });
});

// Each kernel picks a formulation by shape; both must be right for every shape.
describe('both formulations of the dense gradients', () => {
  const nhwc = dense.filter((c) => c.dataFormat !== 'NCHW');
  const formulations = [
    { name: 'weights by matmul', kernel: 'Conv2DBackpropFilter', run: conv2dWeightGradByMatMul },
    { name: 'weights by conv', kernel: 'Conv2DBackpropFilter', run: conv2dWeightGradByConv },
    { name: 'input by matmul', kernel: 'Conv2DBackpropInput', run: conv2dInputGradByMatMul },
    { name: 'input by conv', kernel: 'Conv2DBackpropInput', run: conv2dInputGradByConv },
  ] as const;
  it.each(formulations.flatMap((f) => nhwc.map((c) => ({ ...c, f, label: `${f.name}: ${c.name}` }))))(
    '$label',
    async (c) => {
      const weights = c.f.kernel === 'Conv2DBackpropFilter';
      const dyShape = outShape(c, false);
      const [first, second] = weights
        ? [randomValues(c.x, 31), randomValues(dyShape, 32)]
        : [randomValues(dyShape, 31), randomValues(c.filter, 32)];
      const call: KernelCall = weights
        ? {
            kernel: c.f.kernel,
            inputs: { x: { shape: c.x, values: first }, dy: { shape: dyShape, values: second } },
            attrs: { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter },
          }
        : {
            kernel: c.f.kernel,
            inputs: { dy: { shape: dyShape, values: first }, filter: { shape: c.filter, values: second } },
            attrs: { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
          };
      const want = await runOn('cpu', call);
      const backend = wasmBackend(tf.backend());
      const geometry = geometryOf(tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad));
      const got = tf.tidy(() => {
        const a = tf.tensor(first, weights ? c.x : dyShape);
        const b = tf.tensor(second, weights ? dyShape : c.filter);
        const before = backend.numDataIds();
        const out = c.f.run(backend, a, b, geometry);
        const values = backend.typedArrayFromHeap(out).slice();
        backend.disposeData(out.dataId);
        expect(backend.numDataIds()).toBe(before);
        return { values, shape: out.shape };
      });
      expect(got.shape).toEqual(weights ? c.filter : c.x);
      expect(relativeError(got.values, want.values)).toBeLessThanOrEqual(TOLERANCE);
    },
  );
});
