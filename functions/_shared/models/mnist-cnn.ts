// The MNIST CNN every Kaskade workload trains by default: conv 5×5×16 → maxpool 2 →
// conv 5×5×32 → maxpool 2 → dense 10 softmax on 28×28×1 images, compiled with Adam and
// categorical cross-entropy (one-hot labels). Layer names are fixed so weights line up
// across processes (federated averaging, checkpoints).
import type * as tfjs from '@tensorflow/tfjs';

type TF = typeof tfjs;

export interface MnistCnnOptions {
  /** Adam's learning rate (default 0.001). */
  learningRate?: number;
  /** Seed for the weight initialisers, so two processes can start from identical weights. */
  seed?: number;
}

export const MNIST_CNN_INPUT_SHAPE = [28, 28, 1] as const;
export const MNIST_CNN_CLASSES = 10;

/** Builds and compiles the MNIST CNN. */
export function buildMnistCnn(tf: TF, options: MnistCnnOptions = {}): tfjs.Sequential {
  const { seed } = options;
  const glorot = (offset: number): ReturnType<TF['initializers']['glorotUniform']> =>
    tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed + offset });
  const model = tf.sequential({
    name: 'mnist_cnn',
    layers: [
      tf.layers.conv2d({
        name: 'conv1',
        inputShape: [...MNIST_CNN_INPUT_SHAPE],
        filters: 16,
        kernelSize: 5,
        activation: 'relu',
        kernelInitializer: glorot(1),
      }),
      tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
      tf.layers.conv2d({ name: 'conv2', filters: 32, kernelSize: 5, activation: 'relu', kernelInitializer: glorot(2) }),
      tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'dense', units: MNIST_CNN_CLASSES, activation: 'softmax', kernelInitializer: glorot(3) }),
    ],
  });
  model.compile({
    optimizer: tf.train.adam(options.learningRate ?? 0.001),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}
