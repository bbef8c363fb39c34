// The ONNX exporter, layer type by layer type: each case is a small model around one layer
// (with random weights), and ONNX Runtime's output must equal TF.js's within 1e-4.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxParity, randomiseWeights, uniform } from '../../../test/support/onnx-parity.js';
import { useWasm } from '../../../test/support/kernels.js';
import { UnsupportedModelError } from '../errors.js';
import { EXPORTABLE_LAYERS, checkExportable, exportOnnx } from './export-onnx.js';

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

const TOLERANCE = 1e-4;

function image(n: number, h: number, w: number, c: number, seed = 3): tf.Tensor {
  return tf.tensor(uniform(n * h * w * c, seed), [n, h, w, c]);
}

function tokens(n: number, t: number, vocabulary: number, seed = 4): tf.Tensor {
  return tf.tensor(Int32Array.from(uniform(n * t, seed, 0, vocabulary), Math.floor), [n, t], 'int32');
}

function sequences(n: number, t: number, f: number, seed = 5): tf.Tensor {
  return tf.tensor(uniform(n * t * f, seed), [n, t, f]);
}

function seq(layers: tf.layers.Layer[]): tf.LayersModel {
  return tf.sequential({ layers });
}

/** A functional model: `body` maps the input(s) to one output. */
function functional(shapes: number[][], body: (xs: tf.SymbolicTensor[]) => tf.SymbolicTensor): tf.LayersModel {
  const inputs = shapes.map((shape) => tf.input({ shape }));
  return tf.model({ inputs, outputs: body(inputs) });
}

function apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(x) as tf.SymbolicTensor;
}

const conv = (extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}): tf.layers.Layer =>
  tf.layers.conv2d({ inputShape: [9, 9, 3], filters: 4, kernelSize: 3, ...extra });

interface Case {
  readonly name: string;
  readonly model: () => tf.LayersModel;
  readonly input: () => tf.Tensor;
}

const CASES: readonly Case[] = [
  {
    name: 'Conv2D valid, bias, relu',
    model: () => seq([conv({ activation: 'relu' })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Conv2D same, stride 2, no bias',
    model: () => seq([conv({ padding: 'same', strides: 2, useBias: false })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Conv2D same, dilation 2, 5x3 kernel',
    model: () => seq([conv({ padding: 'same', dilationRate: 2, kernelSize: [5, 3] })]),
    input: () => image(1, 9, 9, 3),
  },
  {
    name: 'Dense on rank 2, softmax',
    model: () => seq([tf.layers.dense({ inputShape: [7], units: 5, activation: 'softmax' })]),
    input: () => sequences(3, 1, 7).reshape([3, 7]),
  },
  {
    name: 'Dense on rank 3, no bias',
    model: () => seq([tf.layers.dense({ inputShape: [4, 6], units: 3, useBias: false })]),
    input: () => sequences(2, 4, 6),
  },
  {
    name: 'BatchNormalization after Conv2D',
    model: () => seq([conv(), tf.layers.batchNormalization({ axis: 3, epsilon: 1e-3 })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'BatchNormalization on rank 2, no scale or center',
    model: () => seq([tf.layers.batchNormalization({ inputShape: [6], scale: false, center: false })]),
    input: () => sequences(3, 1, 6).reshape([3, 6]),
  },
  {
    name: 'MaxPooling2D valid',
    model: () => seq([conv(), tf.layers.maxPooling2d({ poolSize: 2 })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'MaxPooling2D same, 3x3 stride 2',
    model: () => seq([conv(), tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'AveragePooling2D same',
    model: () => seq([conv(), tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'GlobalAveragePooling2D',
    model: () => seq([conv(), tf.layers.globalAveragePooling2d({})]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'DepthwiseConv2D same, stride 2, multiplier 2, relu',
    model: () =>
      seq([
        conv(),
        tf.layers.depthwiseConv2d({
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          depthMultiplier: 2,
          activation: 'relu',
        }),
      ]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'DepthwiseConv2D valid, no bias',
    model: () => seq([conv(), tf.layers.depthwiseConv2d({ kernelSize: 3, useBias: false })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'GlobalMaxPooling2D',
    model: () => seq([conv(), tf.layers.globalMaxPooling2d({})]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'GlobalAveragePooling1D',
    model: () => seq([tf.layers.globalAveragePooling1d({ inputShape: [5, 4] })]),
    input: () => sequences(2, 5, 4),
  },
  {
    name: 'GlobalMaxPooling1D',
    model: () => seq([tf.layers.globalMaxPooling1d({ inputShape: [5, 4] })]),
    input: () => sequences(2, 5, 4),
  },
  {
    name: 'ZeroPadding2D, uneven',
    model: () =>
      seq([
        tf.layers.zeroPadding2d({
          inputShape: [5, 5, 2],
          padding: [
            [1, 2],
            [0, 3],
          ],
        }),
        tf.layers.conv2d({ filters: 2, kernelSize: 2 }),
      ]),
    input: () => image(1, 5, 5, 2),
  },
  {
    name: 'Flatten after Conv2D (channels-last order)',
    model: () => seq([conv(), tf.layers.flatten(), tf.layers.dense({ units: 3 })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Reshape',
    model: () => seq([tf.layers.reshape({ inputShape: [12], targetShape: [3, 4] }), tf.layers.dense({ units: 2 })]),
    input: () => sequences(2, 1, 12).reshape([2, 12]),
  },
  {
    name: 'Add of two convolutions (a residual join)',
    model: () =>
      functional([[9, 9, 3]], ([x]) =>
        apply(tf.layers.add(), [
          apply(conv({ padding: 'same' }), x as tf.SymbolicTensor),
          apply(conv({ padding: 'same' }), x as tf.SymbolicTensor),
        ]),
      ),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Add of a convolution and the raw input',
    model: () =>
      functional([[9, 9, 3]], ([x]) =>
        apply(tf.layers.add(), [
          apply(conv({ padding: 'same', filters: 3 }), x as tf.SymbolicTensor),
          x as tf.SymbolicTensor,
        ]),
      ),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Multiply and Average',
    model: () =>
      functional([[6]], ([x]) => {
        const a = apply(tf.layers.dense({ units: 4 }), x as tf.SymbolicTensor);
        const b = apply(tf.layers.dense({ units: 4 }), x as tf.SymbolicTensor);
        return apply(tf.layers.average(), [apply(tf.layers.multiply(), [a, b]), a]);
      }),
    input: () => sequences(3, 1, 6).reshape([3, 6]),
  },
  {
    name: 'Concatenate of convolutions on channels',
    model: () =>
      functional([[9, 9, 3]], ([x]) =>
        apply(tf.layers.concatenate({ axis: -1 }), [
          apply(conv(), x as tf.SymbolicTensor),
          apply(conv({ filters: 2 }), x as tf.SymbolicTensor),
        ]),
      ),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Embedding',
    model: () => seq([tf.layers.embedding({ inputDim: 50, outputDim: 8, inputLength: 6 }), tf.layers.flatten()]),
    input: () => tokens(3, 6, 50),
  },
  ...['relu', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'relu6', 'swish', 'linear'].map(
    (activation): Case => ({
      name: `Activation ${activation}`,
      model: () => seq([tf.layers.activation({ inputShape: [4, 5], activation: activation as 'relu' })]),
      input: () => sequences(2, 4, 5).mul(3),
    }),
  ),
  {
    name: 'Activation softmax after Conv2D (channels axis)',
    model: () => seq([conv(), tf.layers.activation({ activation: 'softmax' })]),
    input: () => image(2, 9, 9, 3),
  },
  {
    name: 'Rescaling [0, 1] → [-1, 1] before a dense layer',
    model: () => seq([tf.layers.rescaling({ inputShape: [6], scale: 2, offset: -1 }), tf.layers.dense({ units: 4 })]),
    input: () => sequences(3, 1, 6).reshape([3, 6]),
  },
  {
    name: 'ReLU with a maximum, LeakyReLU, Softmax',
    model: () =>
      seq([
        tf.layers.reLU({ inputShape: [6], maxValue: 0.4 }),
        tf.layers.dense({ units: 5 }),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.softmax(),
      ]),
    input: () => sequences(3, 1, 6).reshape([3, 6]).mul(2),
  },
  {
    name: 'Dropout is the identity',
    model: () => seq([tf.layers.dense({ inputShape: [6], units: 4 }), tf.layers.dropout({ rate: 0.5 })]),
    input: () => sequences(3, 1, 6).reshape([3, 6]),
  },
  {
    name: 'GRU, last step',
    model: () => seq([tf.layers.gru({ inputShape: [7, 5], units: 6 })]),
    input: () => sequences(3, 7, 5),
  },
  {
    name: 'GRU, sequences, sigmoid gates',
    model: () =>
      seq([tf.layers.gru({ inputShape: [7, 5], units: 6, returnSequences: true, recurrentActivation: 'sigmoid' })]),
    input: () => sequences(3, 7, 5),
  },
  {
    name: 'GRU going backwards',
    model: () => seq([tf.layers.gru({ inputShape: [7, 5], units: 4, goBackwards: true })]),
    input: () => sequences(2, 7, 5),
  },
  {
    name: 'LSTM, last step',
    model: () => seq([tf.layers.lstm({ inputShape: [7, 5], units: 6 })]),
    input: () => sequences(3, 7, 5),
  },
  {
    name: 'LSTM, sequences, no bias',
    model: () => seq([tf.layers.lstm({ inputShape: [7, 5], units: 6, returnSequences: true, useBias: false })]),
    input: () => sequences(3, 7, 5),
  },
  {
    name: 'Bidirectional GRU, sequences then last',
    model: () =>
      seq([
        tf.layers.bidirectional({ inputShape: [6, 4], layer: tf.layers.gru({ units: 5, returnSequences: true }) }),
        tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3 }) }),
      ]),
    input: () => sequences(2, 6, 4),
  },
  {
    name: 'Bidirectional LSTM',
    model: () => seq([tf.layers.bidirectional({ inputShape: [6, 4], layer: tf.layers.lstm({ units: 5 }) })]),
    input: () => sequences(2, 6, 4),
  },
];

describe('ONNX export: one layer type at a time', () => {
  it.each(CASES)('$name', async ({ model: build, input }) => {
    const model = build();
    randomiseWeights(tf, model, 17);
    const x = input();
    const parity = await onnxParity(tf, model, x);
    expect(parity.tfjs.length).toBeGreaterThan(0);
    expect(parity.maxAbsDiff).toBeLessThan(TOLERANCE);
    x.dispose();
    model.dispose();
  });

  it('covers every layer type it claims', () => {
    const tested = new Set([
      'Conv2D',
      'DepthwiseConv2D',
      'Dense',
      'BatchNormalization',
      'MaxPooling2D',
      'AveragePooling2D',
      'GlobalAveragePooling2D',
      'GlobalMaxPooling2D',
      'GlobalAveragePooling1D',
      'GlobalMaxPooling1D',
      'ZeroPadding2D',
      'Flatten',
      'Reshape',
      'Add',
      'Multiply',
      'Average',
      'Concatenate',
      'Embedding',
      'Activation',
      'ReLU',
      'LeakyReLU',
      'Softmax',
      'Dropout',
      'GRU',
      'LSTM',
      'Bidirectional',
      'Rescaling',
    ]);
    const untested = EXPORTABLE_LAYERS.filter((l) => !tested.has(l));
    // Pure identities and simple elementwise merges that share code with tested ones.
    expect(untested.sort()).toEqual([
      'AlphaDropout',
      'GaussianDropout',
      'GaussianNoise',
      'Maximum',
      'Minimum',
      'SpatialDropout1D',
      'SpatialDropout2D',
      'Subtract',
    ]);
  });
});

describe('ONNX export: what it refuses', () => {
  it('names a layer type it has no converter for, before writing anything', () => {
    const model = seq([
      tf.layers.conv1d({ name: 'wave_conv', inputShape: [8, 2], filters: 3, kernelSize: 3 }),
      tf.layers.simpleRNN({ name: 'plain_rnn', units: 2 }),
    ]);
    expect(() => checkExportable(model)).toThrow(UnsupportedModelError);
    expect(() => exportOnnx(model)).toThrow(/"wave_conv" \(Conv1D\), "plain_rnn" \(SimpleRNN\)/);
    model.dispose();
  });

  it.each([
    {
      name: 'an activation without an ONNX form',
      model: () => seq([tf.layers.dense({ name: 'gelu_dense', inputShape: [3], units: 2, activation: 'gelu' })]),
      message: /"gelu_dense" \(Dense\).*activation "gelu"/,
    },
    {
      name: 'an embedding with masking',
      model: () =>
        seq([
          tf.layers.embedding({ name: 'masked', inputDim: 9, outputDim: 2, maskZero: true, inputLength: 3 }),
          tf.layers.flatten(),
        ]),
      message: /"masked" \(Embedding\).*maskZero/,
    },
    {
      name: 'a bidirectional layer summing its directions',
      model: () =>
        seq([
          tf.layers.bidirectional({
            name: 'bi_sum',
            inputShape: [4, 2],
            layer: tf.layers.gru({ units: 2 }),
            mergeMode: 'sum',
          }),
        ]),
      message: /"bi_sum" \(Bidirectional\).*mergeMode "sum"/,
    },
  ])('refuses $name with the layer named', ({ model: build, message }) => {
    const model = build();
    expect(() => exportOnnx(model)).toThrow(message);
    model.dispose();
  });
});
