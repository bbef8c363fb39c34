// Convolution gradient kernels for the wasm backend: the weight gradients TF.js 4.22's wasm
// backend lacks (dense and depthwise), and input gradients that replace its scalar C++ loops
// (dense) or fill the gap (depthwise). See conv-grad.ts for the formulations.
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { conv2dInputGrad, conv2dWeightGrad, depthwiseInputGrad, depthwiseWeightGrad, geometryOf } from './conv-grad.js';
import {
  type Attrs,
  type TensorInfo,
  dataFormatAttr,
  input,
  padAttr,
  pairAttr,
  release,
  roundingAttr,
  shape4,
  shape4Attr,
  transpose,
  wasmBackend,
} from './wasm-ops.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
const nchwToNhwc = (s: readonly number[]): [number, number, number, number] => {
  const [n, c, h, w] = shape4(s, 'shape');
  return [n, h, w, c];
};

/** Runs `f` on NHWC operands, converting NCHW inputs in and the NCHW output back. */
function inNhwc(
  backend: BackendWasm,
  format: 'NHWC' | 'NCHW',
  operands: TensorInfo[],
  f: (nhwc: TensorInfo[]) => TensorInfo,
  outputIsImage: boolean,
): TensorInfo {
  if (format === 'NHWC') return f(operands);
  const converted = operands.map((t) => transpose(backend, t, TO_NHWC));
  const out = f(converted);
  release(backend, ...converted);
  if (!outputIsImage) return out;
  const back = transpose(backend, out, TO_NCHW);
  release(backend, out);
  return back;
}

function denseInfo(
  inShapeNhwc: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: Attrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShapeNhwc,
    filterShape,
    pairAttr(attrs, 'strides'),
    1,
    padAttr(attrs),
    roundingAttr(attrs),
  );
}

const conv2DBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const format = dataFormatAttr(attrs);
  const [x, dy] = [input(inputs, 'x'), input(inputs, 'dy')];
  const xShape = format === 'NHWC' ? shape4(x.shape, 'x') : nchwToNhwc(x.shape);
  const info = denseInfo(xShape, shape4Attr(attrs, 'filterShape'), attrs);
  return inNhwc(
    wasm,
    format,
    [x, dy],
    ([xN, dyN]) => conv2dWeightGrad(wasm, need(xN), need(dyN), geometryOf(info)),
    false,
  );
};

const conv2DBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const format = dataFormatAttr(attrs);
  const [dy, filter] = [input(inputs, 'dy'), input(inputs, 'filter')];
  const inShape = shape4Attr(attrs, 'inputShape');
  const info = denseInfo(format === 'NHWC' ? inShape : nchwToNhwc(inShape), shape4(filter.shape, 'filter'), attrs);
  return inNhwc(wasm, format, [dy], ([dyN]) => conv2dInputGrad(wasm, need(dyN), filter, geometryOf(info)), true);
};

function depthwiseInfo(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: Attrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    pairAttr(attrs, 'strides'),
    pairAttr(attrs, 'dilations', 1),
    padAttr(attrs),
    roundingAttr(attrs),
    true,
  );
}

const depthwiseBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [x, dy] = [input(inputs, 'x'), input(inputs, 'dy')];
  const filterShape = shape4Attr(attrs, 'filterShape');
  const info = depthwiseInfo(shape4(x.shape, 'x'), filterShape, attrs);
  return depthwiseWeightGrad(wasm, x, dy, geometryOf(info), filterShape[3]);
};

const depthwiseBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [dy, filter] = [input(inputs, 'dy'), input(inputs, 'filter')];
  const filterShape = shape4(filter.shape, 'filter');
  const info = depthwiseInfo(shape4Attr(attrs, 'inputShape'), filterShape, attrs);
  return depthwiseInputGrad(wasm, dy, filter, geometryOf(info), filterShape[3]);
};

function need(t: TensorInfo | undefined): TensorInfo {
  if (t === undefined) throw new BackendError('convolution gradient operand missing');
  return t;
}

export const convolutionKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter },
  { kernelName: tf.Conv2DBackpropInput, backendName: 'wasm', kernelFunc: conv2DBackpropInput },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, backendName: 'wasm', kernelFunc: depthwiseBackpropFilter },
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, backendName: 'wasm', kernelFunc: depthwiseBackpropInput },
];
