// A small MobileNet (v1: depthwise-separable convolutions with batch norm and ReLU6, global
// average pooling, softmax) for the edge image service. `alpha` scales every layer's width and
// `blocks` the depth, so the same builder makes the test fixture and the real model.
import type * as tfjs from '@tensorflow/tfjs';

type TF = typeof tfjs;

export interface MobileNetOptions {
  /** Input side in pixels (square RGB input). */
  inputSize?: number;
  classes: number;
  /** Width multiplier (MobileNet's α); 1 = 32 filters in the stem. */
  alpha?: number;
  /** Depthwise-separable blocks as [pointwise filters at α = 1, stride]. */
  blocks?: ReadonlyArray<readonly [number, 1 | 2]>;
  learningRate?: number;
  seed?: number;
}

/** The fixture's shape: 4 blocks on 32 × 32 pixels. */
export const SMALL_BLOCKS: ReadonlyArray<readonly [number, 1 | 2]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
];

/** MobileNet v1's first 7 blocks (to 512 filters), enough for 32–64 pixel inputs. */
export const STANDARD_BLOCKS: ReadonlyArray<readonly [number, 1 | 2]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
];

export function buildMobileNet(tf: TF, options: MobileNetOptions): tfjs.LayersModel {
  const alpha = options.alpha ?? 0.25;
  const size = options.inputSize ?? 32;
  const seed = options.seed ?? 11;
  let n = 0;
  const init = (): ReturnType<TF['initializers']['glorotUniform']> =>
    tf.initializers.glorotUniform({ seed: seed + n++ });
  const width = (f: number): number => Math.max(8, Math.round(f * alpha));
  const input = tf.input({ shape: [size, size, 3], name: 'image' });
  let x = tf.layers
    .conv2d({
      name: 'stem',
      filters: width(32),
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
    })
    .apply(input) as tfjs.SymbolicTensor;
  x = bnRelu6(tf, x, 'stem');
  (options.blocks ?? SMALL_BLOCKS).forEach(([filters, stride], i) => {
    x = tf.layers
      .depthwiseConv2d({
        name: `dw${i + 1}`,
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        useBias: false,
        depthwiseInitializer: init(),
      })
      .apply(x) as tfjs.SymbolicTensor;
    x = bnRelu6(tf, x, `dw${i + 1}`);
    x = tf.layers
      .conv2d({ name: `pw${i + 1}`, filters: width(filters), kernelSize: 1, useBias: false, kernelInitializer: init() })
      .apply(x) as tfjs.SymbolicTensor;
    x = bnRelu6(tf, x, `pw${i + 1}`);
  });
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfjs.SymbolicTensor;
  x = tf.layers.dropout({ name: 'dropout', rate: 0.1 }).apply(x) as tfjs.SymbolicTensor;
  const output = tf.layers
    .dense({ name: 'classes', units: options.classes, activation: 'softmax', kernelInitializer: init() })
    .apply(x) as tfjs.SymbolicTensor;
  const model = tf.model({ name: 'edge_mobilenet', inputs: input, outputs: output });
  model.compile({
    optimizer: tf.train.adam(options.learningRate ?? 0.005),
    loss: 'sparseCategoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

function bnRelu6(tf: TF, x: tfjs.SymbolicTensor, name: string): tfjs.SymbolicTensor {
  const normed = tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.9 }).apply(x) as tfjs.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}_relu6`, maxValue: 6 }).apply(normed) as tfjs.SymbolicTensor;
}
