// The math of one pipeline layer as pure functions of (parameters, input): what a layer service
// runs forward, differentiates backward, and what the exported TF.js model must reproduce.
// Parameters are plain named tensors (`kernel`, `bias`, `gamma`, `beta`); batch norm's running
// statistics (`moving_mean`, `moving_var`) are state, not parameters.
import type * as tfjs from '@tensorflow/tfjs';
import type { LayerSpec } from './spec.js';

type TF = typeof tfjs;
export type Tensors = Record<string, tfjs.Tensor>;

export interface ForwardOptions {
  readonly training: boolean;
  /** Dropout's keep mask (0/1, the input's shape), drawn by the caller so backward can reuse it. */
  readonly mask?: tfjs.Tensor | undefined;
}

/** Names of the trainable parameters of a layer, in the order the exported model holds them. */
export function parameterNames(spec: LayerSpec): string[] {
  switch (spec.kind) {
    case 'conv':
    case 'fc':
      return ['kernel', 'bias'];
    case 'batchnorm':
      return ['gamma', 'beta'];
    case 'flatten':
    case 'dropout':
      return [];
  }
}

/** Names of the non-trainable state a layer checkpoints beside its parameters. */
export function stateNames(spec: LayerSpec): string[] {
  return spec.kind === 'batchnorm' ? ['moving_mean', 'moving_var'] : [];
}

/**
 * Fresh parameters and state, drawn from `seed` as PyTorch initialises Conv2d and Linear
 * (uniform in ±1/√fan_in for kernel and bias), so two processes with one seed start equal.
 */
export function initialTensors(tf: TF, spec: LayerSpec, seed: number): Tensors {
  const uniform = (shape: number[], fanIn: number, offset: number): tfjs.Tensor => {
    const bound = 1 / Math.sqrt(fanIn);
    return tf.randomUniform(shape, -bound, bound, 'float32', seed * 16 + offset);
  };
  switch (spec.kind) {
    case 'conv': {
      const { kernel_size: k, in_channels: cin, out_channels: cout } = spec.config;
      return { kernel: uniform([k, k, cin, cout], cin * k * k, 1), bias: uniform([cout], cin * k * k, 2) };
    }
    case 'fc': {
      const { in_features: fin, out_features: fout } = spec.config;
      return { kernel: uniform([fin, fout], fin, 1), bias: uniform([fout], fin, 2) };
    }
    case 'batchnorm': {
      const n = spec.config.num_features;
      return { gamma: tf.ones([n]), beta: tf.zeros([n]), moving_mean: tf.zeros([n]), moving_var: tf.ones([n]) };
    }
    case 'flatten':
    case 'dropout':
      return {};
  }
}

function tensor(values: Tensors, name: string): tfjs.Tensor {
  const t = values[name];
  if (t === undefined) throw new RangeError(`missing tensor ${name}`);
  return t;
}

/** One layer's output for a batch `x` (NHWC images or [batch, features]). Pure: no state changes. */
export function layerForward(
  tf: TF,
  spec: LayerSpec,
  values: Tensors,
  x: tfjs.Tensor,
  options: ForwardOptions,
): tfjs.Tensor {
  switch (spec.kind) {
    case 'conv': {
      const c = spec.config;
      const x4 = x as tfjs.Tensor4D;
      const padded =
        typeof c.padding === 'number' && c.padding > 0
          ? tf.pad(x4, [
              [0, 0],
              [c.padding, c.padding],
              [c.padding, c.padding],
              [0, 0],
            ])
          : x4;
      const pad = c.padding === 'same' ? 'same' : 'valid';
      const z = tf.add(
        tf.conv2d(padded, tensor(values, 'kernel') as tfjs.Tensor4D, c.stride, pad),
        tensor(values, 'bias'),
      );
      const a = c.activation === 'relu' ? tf.relu(z) : z;
      if (c.pool_size <= 1) return a;
      return tf.maxPool(a as tfjs.Tensor4D, c.pool_size, c.pool_stride ?? c.pool_size, 'valid');
    }
    case 'fc': {
      const flat = x.rank === 2 ? (x as tfjs.Tensor2D) : tf.reshape(x, [x.shape[0] ?? -1, -1]);
      const z = tf.add(
        tf.matMul(flat as tfjs.Tensor2D, tensor(values, 'kernel') as tfjs.Tensor2D),
        tensor(values, 'bias'),
      );
      return spec.config.activation === 'relu' ? tf.relu(z) : z;
    }
    case 'flatten':
      return tf.reshape(x, [x.shape[0] ?? -1, -1]);
    case 'batchnorm': {
      const { eps } = spec.config;
      const axes = x.shape.map((_, i) => i).slice(0, -1);
      const { mean, variance } = options.training
        ? tf.moments(x, axes)
        : { mean: tensor(values, 'moving_mean'), variance: tensor(values, 'moving_var') };
      return tf.add(
        tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), tensor(values, 'gamma')),
        tensor(values, 'beta'),
      );
    }
    case 'dropout': {
      if (!options.training || spec.config.p === 0 || options.mask === undefined) return tf.clone(x);
      return tf.div(tf.mul(x, options.mask), 1 - spec.config.p);
    }
  }
}

/** Dropout's keep mask for one micro-batch, drawn from a seed the caller derives from its ids. */
export function dropoutMask(tf: TF, spec: LayerSpec, shape: readonly number[], seed: number): tfjs.Tensor | undefined {
  if (spec.kind !== 'dropout' || spec.config.p === 0) return undefined;
  return tf.tidy(() =>
    tf.cast(tf.greaterEqual(tf.randomUniform([...shape], 0, 1, 'float32', seed), spec.config.p), 'float32'),
  );
}

/** Batch norm's running statistics after a training batch (unbiased variance, as PyTorch keeps). */
export function updatedState(tf: TF, spec: LayerSpec, values: Tensors, x: tfjs.Tensor): Tensors {
  if (spec.kind !== 'batchnorm') return {};
  return tf.tidy(() => {
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    const n = x.size / (x.shape[x.shape.length - 1] ?? 1);
    const { mean, variance } = tf.moments(x, axes);
    const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
    const m = spec.config.momentum;
    return {
      moving_mean: tf.add(tf.mul(tensor(values, 'moving_mean'), 1 - m), tf.mul(mean, m)),
      moving_var: tf.add(tf.mul(tensor(values, 'moving_var'), 1 - m), tf.mul(unbiased, m)),
    };
  });
}

/**
 * Gradients of `sum(forward(x) · dy)` for the parameters and, when asked, the input: the layer's
 * backward pass. The forward is recomputed from the kept input (GPipe's re-materialisation), so
 * a layer keeps one tensor per micro-batch between its forward and backward calls.
 */
export function layerBackward(
  tf: TF,
  spec: LayerSpec,
  values: Tensors,
  x: tfjs.Tensor,
  dy: tfjs.Tensor,
  options: ForwardOptions & { readonly inputGrad: boolean },
): { dx: tfjs.Tensor | undefined; grads: Tensors } {
  const names = parameterNames(spec);
  const params = names.map((n) => tensor(values, n));
  const run = (input: tfjs.Tensor, ps: tfjs.Tensor[]): tfjs.Tensor => {
    const bound: Tensors = { ...values };
    names.forEach((n, i) => {
      const p = ps[i];
      if (p !== undefined) bound[n] = p;
    });
    return layerForward(tf, spec, bound, input, options);
  };
  return tf.tidy(() => {
    if (names.length === 0) {
      const [dx] = tf.grads((input: tfjs.Tensor) => run(input, []))([x], dy);
      return { dx: options.inputGrad ? dx : undefined, grads: {} };
    }
    const args = options.inputGrad ? [x, ...params] : params;
    const all = tf.grads((...ts: tfjs.Tensor[]) =>
      options.inputGrad ? run(ts[0] as tfjs.Tensor, ts.slice(1)) : run(x, ts),
    )(args, dy);
    const grads: Tensors = {};
    const offset = options.inputGrad ? 1 : 0;
    names.forEach((n, i) => {
      const g = all[i + offset];
      if (g !== undefined) grads[n] = g;
    });
    return { dx: options.inputGrad ? all[0] : undefined, grads };
  });
}

/**
 * The forward of a conv or fc layer in training that also keeps what its backward needs (the
 * input, the activation before pooling and the pooled output), so the backward is pure gradient
 * arithmetic, with no second forward. Undefined for the other kinds (they re-materialise).
 */
export function forwardKeeping(
  tf: TF,
  spec: LayerSpec,
  values: Tensors,
  x: tfjs.Tensor,
): { y: tfjs.Tensor; kept: Tensors } | undefined {
  if (spec.kind === 'conv') {
    const c = spec.config;
    return tf.tidy(() => {
      const x4 = x as tfjs.Tensor4D;
      const input =
        typeof c.padding === 'number' && c.padding > 0
          ? tf.pad(x4, [
              [0, 0],
              [c.padding, c.padding],
              [c.padding, c.padding],
              [0, 0],
            ])
          : tf.clone(x4);
      const z = tf.add(
        tf.conv2d(input, tensor(values, 'kernel') as tfjs.Tensor4D, c.stride, c.padding === 'same' ? 'same' : 'valid'),
        tensor(values, 'bias'),
      );
      const a = c.activation === 'relu' ? tf.relu(z) : z;
      const y =
        c.pool_size > 1 ? tf.maxPool(a as tfjs.Tensor4D, c.pool_size, c.pool_stride ?? c.pool_size, 'valid') : a;
      return { y, kept: { input, a, y: tf.clone(y) } };
    });
  }
  if (spec.kind === 'fc') {
    return tf.tidy(() => {
      const input = tf.reshape(x, [x.shape[0] ?? -1, -1]);
      const z = tf.add(
        tf.matMul(input as tfjs.Tensor2D, tensor(values, 'kernel') as tfjs.Tensor2D),
        tensor(values, 'bias'),
      );
      const y = spec.config.activation === 'relu' ? tf.relu(z) : z;
      return { y, kept: { input, y: tf.clone(y) } };
    });
  }
  return undefined;
}

/** The backward of a conv or fc layer from what `forwardKeeping` kept; `inputShape` is x's shape. */
export function backwardFromKept(
  tf: TF,
  spec: LayerSpec,
  values: Tensors,
  kept: Tensors,
  dy: tfjs.Tensor,
  inputShape: readonly number[],
  inputGrad: boolean,
): { dx: tfjs.Tensor | undefined; grads: Tensors } {
  const engine = tf.engine();
  return tf.tidy(() => {
    if (spec.kind === 'conv') {
      const c = spec.config;
      const input = tensor(kept, 'input');
      const a = tensor(kept, 'a');
      const kernel = tensor(values, 'kernel');
      const pool = c.pool_stride ?? c.pool_size;
      const dA =
        c.pool_size > 1
          ? engine.runKernel<tfjs.Tensor>(
              'MaxPoolGrad',
              { dy, input: a, output: tensor(kept, 'y') },
              { filterSize: [c.pool_size, c.pool_size], strides: [pool, pool], pad: 'valid' },
            )
          : dy;
      const dZ = c.activation === 'relu' ? tf.mul(dA, tf.step(a)) : dA;
      const pad = c.padding === 'same' ? 'same' : 'valid';
      const strides: [number, number] = [c.stride, c.stride];
      const grads = {
        kernel: engine.runKernel<tfjs.Tensor>(
          'Conv2DBackpropFilter',
          { x: input, dy: dZ },
          { strides, pad, dataFormat: 'NHWC', filterShape: kernel.shape },
        ),
        bias: tf.sum(dZ, [0, 1, 2]),
      };
      if (!inputGrad) return { dx: undefined, grads };
      const dInput = engine.runKernel<tfjs.Tensor>(
        'Conv2DBackpropInput',
        { dy: dZ, filter: kernel },
        { strides, pad, dataFormat: 'NHWC', inputShape: input.shape },
      );
      const p = typeof c.padding === 'number' ? c.padding : 0;
      const dx = p > 0 ? tf.slice(dInput, [0, p, p, 0], [...inputShape]) : dInput;
      return { dx, grads };
    }
    if (spec.kind === 'fc') {
      const input = tensor(kept, 'input');
      const dZ = spec.config.activation === 'relu' ? tf.mul(dy, tf.step(tensor(kept, 'y'))) : dy;
      const grads = { kernel: tf.matMul(input, dZ, true, false), bias: tf.sum(dZ, 0) };
      if (!inputGrad) return { dx: undefined, grads };
      return {
        dx: tf.reshape(tf.matMul(dZ as tfjs.Tensor2D, tensor(values, 'kernel') as tfjs.Tensor2D, false, true), [
          ...inputShape,
        ]),
        grads,
      };
    }
    throw new RangeError(`layer ${spec.kind} keeps nothing for its backward`);
  });
}
