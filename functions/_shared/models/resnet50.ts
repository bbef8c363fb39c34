// ResNet-50 (v1, 224×224×3 → 1000 classes) built from tf.layers with random weights, with the
// layer names Keras gives it (conv1_conv, conv2_block1_1_conv, …, conv4_block6_out,
// avg_pool, predictions) so cut points and weight names are stable. Nothing is downloaded.
//
// `foldResNet50` derives the inference-optimised twin: every batch norm folded into the
// convolution before it (scale into the kernel, shift into a bias), so each conv runs as one
// fused conv + bias (+ ReLU) kernel.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';

type TF = typeof tfjs;
type Sym = tfjs.SymbolicTensor;

export interface ResNet50Options {
  /** Square input size (default 224); smaller sizes keep tests quick. */
  inputSize?: number;
  /** Output classes (default 1000). */
  classes?: number;
  /** Seed for the kernel initialisers. */
  seed?: number;
  /** Blocks in stages 2..5 (default 3, 4, 6, 3); fewer make a small ResNet of the same shape. */
  blocks?: readonly [number, number, number, number];
  /** Filters of the stem and of stage 2's bottleneck (default 64); stages double it. */
  width?: number;
}

/** The small ResNet the tests and quick demos use: one block a stage, 32×32 input, 10 classes. */
export const SMALL_RESNET: ResNet50Options = { inputSize: 32, classes: 10, blocks: [1, 1, 1, 1], width: 8 };

const BN_EPSILON = 1.001e-5;
const STAGES: readonly { stage: number; filters: number; blocks: number; stride: number }[] = [
  { stage: 2, filters: 64, blocks: 3, stride: 1 },
  { stage: 3, filters: 128, blocks: 4, stride: 2 },
  { stage: 4, filters: 256, blocks: 6, stride: 2 },
  { stage: 5, filters: 512, blocks: 3, stride: 2 },
];

/** Names of the stage outputs: where no residual connection crosses, so the net can be cut. */
export const RESNET50_CUT_POINTS = ['pool1_pool', 'conv2_block3_out', 'conv3_block4_out', 'conv4_block6_out'] as const;

function one(t: Sym | Sym[] | tfjs.Tensor | tfjs.Tensor[]): Sym {
  if (Array.isArray(t) || !('sourceLayer' in t)) throw new BadInputError('resnet50: a layer gave an unexpected output');
  return t;
}

/** Builds either the training form (conv → batch norm) or the folded form (conv with bias). */
function build(tf: TF, folded: boolean, options: ResNet50Options): tfjs.LayersModel {
  const size = options.inputSize ?? 224;
  const classes = options.classes ?? 1000;
  const width = options.width ?? 64;
  const blockCounts = options.blocks ?? STAGES.map((s) => s.blocks);
  let seedOffset = 0;
  const kernelInitializer = (): ReturnType<TF['initializers']['heNormal']> =>
    tf.initializers.heNormal(options.seed === undefined ? {} : { seed: options.seed + seedOffset++ });

  /** conv (+ batch norm) (+ relu), named like Keras: <name>_conv, <name>_bn, <name>_relu. */
  const convUnit = (
    x: Sym,
    name: string,
    filters: number,
    kernel: number,
    stride: number,
    padding: 'same' | 'valid',
    relu: boolean,
  ): Sym => {
    if (folded) {
      return one(
        tf.layers
          .conv2d({
            name: `${name}_conv`,
            filters,
            kernelSize: kernel,
            strides: stride,
            padding,
            useBias: true,
            activation: relu ? 'relu' : 'linear',
          })
          .apply(x),
      );
    }
    let h = one(
      tf.layers
        .conv2d({
          name: `${name}_conv`,
          filters,
          kernelSize: kernel,
          strides: stride,
          padding,
          kernelInitializer: kernelInitializer(),
        })
        .apply(x),
    );
    h = one(tf.layers.batchNormalization({ name: `${name}_bn`, axis: 3, epsilon: BN_EPSILON }).apply(h));
    return relu ? one(tf.layers.activation({ name: `${name}_relu`, activation: 'relu' }).apply(h)) : h;
  };

  const block = (x: Sym, name: string, filters: number, stride: number, projection: boolean): Sym => {
    const shortcut = projection ? convUnit(x, `${name}_0`, 4 * filters, 1, stride, 'valid', false) : x;
    let h = convUnit(x, `${name}_1`, filters, 1, stride, 'valid', true);
    h = convUnit(h, `${name}_2`, filters, 3, 1, 'same', true);
    h = convUnit(h, `${name}_3`, 4 * filters, 1, 1, 'valid', false);
    h = one(tf.layers.add({ name: `${name}_add` }).apply([shortcut, h]));
    return one(tf.layers.activation({ name: `${name}_out`, activation: 'relu' }).apply(h));
  };

  const input = tf.input({ name: 'input', shape: [size, size, 3] });
  let x = one(tf.layers.zeroPadding2d({ name: 'conv1_pad', padding: 3 }).apply(input));
  x = convUnit(x, 'conv1', width, 7, 2, 'valid', true);
  x = one(tf.layers.zeroPadding2d({ name: 'pool1_pad', padding: 1 }).apply(x));
  x = one(tf.layers.maxPooling2d({ name: 'pool1_pool', poolSize: 3, strides: 2 }).apply(x));
  STAGES.forEach(({ stage, filters, stride }, i) => {
    const blocks = blockCounts[i] ?? 1;
    const stageFilters = (filters * width) / 64;
    for (let b = 1; b <= blocks; b++)
      x = block(x, `conv${stage}_block${b}`, stageFilters, b === 1 ? stride : 1, b === 1);
  });
  x = one(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x));
  // The classifier is seeded too, so two processes that build the same model (the two split halves) agree.
  const classifierInit =
    options.seed === undefined
      ? {}
      : { kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed + 7919 }) };
  const output = one(
    tf.layers.dense({ name: 'predictions', units: classes, activation: 'softmax', ...classifierInit }).apply(x),
  );
  return tf.model({ name: folded ? 'resnet50_folded' : 'resnet50', inputs: input, outputs: output });
}

/** ResNet-50 with batch norm layers (trainable form), random weights. */
export function buildResNet50(tf: TF, options: ResNet50Options = {}): tfjs.LayersModel {
  return build(tf, false, options);
}

/**
 * The inference twin of `model` (built by buildResNet50 with the same options): each
 * conv → batch norm pair becomes one conv with kernel·γ/√(σ²+ε) and bias β − μ·γ/√(σ²+ε).
 */
export function foldResNet50(tf: TF, model: tfjs.LayersModel, options: ResNet50Options = {}): tfjs.LayersModel {
  const folded = build(tf, true, options);
  for (const layer of folded.layers) {
    const weights = tf.tidy(() => {
      if (layer.name.endsWith('_conv')) return foldedConv(tf, model, layer.name.slice(0, -'_conv'.length));
      if (layer.name === 'predictions')
        return model
          .getLayer('predictions')
          .getWeights()
          .map((w) => w.clone());
      return [];
    });
    if (weights.length > 0) {
      layer.setWeights(weights);
      tf.dispose(weights);
    }
  }
  return folded;
}

function foldedConv(tf: TF, model: tfjs.LayersModel, name: string): tfjs.Tensor[] {
  const [kernel, convBias] = model.getLayer(`${name}_conv`).getWeights();
  const [gamma, beta, mean, variance] = model.getLayer(`${name}_bn`).getWeights();
  if (!kernel || !gamma || !beta || !mean || !variance)
    throw new BadInputError(`resnet50: ${name} lacks conv or batch norm weights`);
  const scale = tf.div(gamma, tf.sqrt(tf.add(variance, BN_EPSILON)));
  const shift = tf.sub(beta, tf.mul(convBias ? tf.sub(mean, convBias) : mean, scale));
  return [tf.mul(kernel, scale), shift];
}
