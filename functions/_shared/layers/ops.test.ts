// A conv or fc layer's backward from what its forward kept equals the backward by
// re-materialisation (tf.grads of the recomputed forward), for strides, paddings and pooling.
import type { Tensor } from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initEngine } from '../engine/index.js';
import { backwardFromKept, forwardKeeping, initialTensors, layerBackward, layerForward } from './ops.js';
import { parseLayerSpec } from './spec.js';

describe('backward from kept tensors', () => {
  it.each([
    {
      name: 'conv 3×3, no padding, pool 2',
      type: 'conv',
      config: { in_channels: 2, out_channels: 3 },
      shape: [2, 9, 9, 2],
    },
    {
      name: 'conv 3×3, padding 1, stride 2, pool 2',
      type: 'conv',
      config: { in_channels: 2, out_channels: 3, padding: 1, stride: 2 },
      shape: [2, 9, 9, 2],
    },
    {
      name: 'conv 5×5 same, no pooling, identity',
      type: 'conv',
      config: { in_channels: 1, out_channels: 2, kernel_size: 5, padding: 'same', pool_size: 1, activation: 'none' },
      shape: [3, 7, 7, 1],
    },
    {
      name: 'conv pool 3 stride 2',
      type: 'conv',
      config: { in_channels: 1, out_channels: 2, pool_size: 3, pool_stride: 2 },
      shape: [1, 11, 11, 1],
    },
    { name: 'fc on images, ReLU', type: 'fc', config: { in_features: 27, out_features: 4 }, shape: [2, 3, 3, 3] },
    { name: 'fc identity', type: 'fc', config: { in_features: 5, out_features: 3, activation: 'none' }, shape: [4, 5] },
  ])('$name', async ({ type, config, shape }) => {
    const { tf } = await initEngine();
    const spec = parseLayerSpec(type, config);
    const values = initialTensors(tf, spec, 3);
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const keeping = forwardKeeping(tf, spec, values, x);
    if (keeping === undefined) throw new Error('conv and fc keep their tensors');
    const reference = layerForward(tf, spec, values, x, { training: true });
    expect(keeping.y.shape).toEqual(reference.shape);
    const dy = tf.randomNormal(reference.shape, 0, 1, 'float32', 2);
    const fast = backwardFromKept(tf, spec, values, keeping.kept, dy, x.shape, true);
    const slow = layerBackward(tf, spec, values, x, dy, { training: true, inputGrad: true });
    const diff = (a: Tensor | undefined, b: Tensor | undefined): number =>
      tf.tidy(() => (a && b ? (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Infinity) : Infinity));
    expect(diff(fast.dx, slow.dx)).toBeLessThan(1e-4);
    expect(diff(fast.grads.kernel, slow.grads.kernel)).toBeLessThan(1e-4);
    expect(diff(fast.grads.bias, slow.grads.bias)).toBeLessThan(1e-4);
    tf.dispose([
      x,
      reference,
      dy,
      keeping.y,
      ...Object.values(keeping.kept),
      ...Object.values(values),
      fast.dx ?? [],
      slow.dx ?? [],
      ...Object.values(fast.grads),
      ...Object.values(slow.grads),
    ]);
  });
});
