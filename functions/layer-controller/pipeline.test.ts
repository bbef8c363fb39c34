// The pipeline's weights equal in-process training's: the seed's network split over four real
// layer services (HTTP, binary CloudEvents), against the same network as one TF.js model with
// TF.js's own Adam, from the same initial weights on the same mini-batches.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../_shared/wire/index.js';
import { seededRandom } from '../_shared/data/random.js';
import { buildChainModel, getChainWeights, setChainWeights } from '../_shared/layers/export.js';
import type { Tensors } from '../_shared/layers/ops.js';
import { parseLayerSpec, SEED_LAYERS } from '../_shared/layers/spec.js';
import { toTfTensors } from '../_shared/wire/index.js';
import { startLayerServers, type LayerServers } from '../../test/support/layer-servers.js';
import type { LayerClient } from '../../events/layer-client.js';
import { trainStep, type MiniBatch, type Schedule } from './pipeline.js';

const SHAPE = [28, 28, 1];
const specs = SEED_LAYERS.map((l) => parseLayerSpec(l.type, l.config));

function randomBatch(rows: number, seed: number): MiniBatch {
  const random = seededRandom(seed);
  const x = new Float32Array(rows * 784).map(() => random() * 2 - 1);
  const labels = new Uint8Array(rows).map(() => Math.floor(random() * 10));
  return { x, labels, rows, exampleShape: SHAPE, classes: 10 };
}

async function layerWeights(clients: LayerClient[], jobId: string): Promise<Tensors[]> {
  return Promise.all(clients.map(async (c) => toTfTensors(decodeTensors(await c.getWeights(jobId)))));
}

function maxAbsDiff(tf: typeof tfjs, a: Tensors[], b: Tensors[]): number {
  let worst = 0;
  a.forEach((layer, k) => {
    for (const [name, t] of Object.entries(layer)) {
      const other = b[k]?.[name];
      if (other === undefined) throw new Error(`layer ${k} lacks ${name}`);
      worst = Math.max(
        worst,
        tf.tidy(() => tf.max(tf.abs(tf.sub(t, other))).dataSync()[0] ?? Infinity),
      );
    }
  });
  return worst;
}

const dispose = (ws: Tensors[]): void => ws.forEach((w) => Object.values(w).forEach((t) => t.dispose()));

describe('layer pipeline against in-process training', () => {
  let layers: LayerServers;
  beforeAll(async () => {
    layers = await startLayerServers(4);
  });
  afterAll(async () => {
    await layers.close();
  });

  const cases: Array<{ name: string; microbatches: number; schedule: Schedule }> = [
    { name: 'M = 1', microbatches: 1, schedule: 'gpipe' },
    { name: 'M = 4, GPipe', microbatches: 4, schedule: 'gpipe' },
    { name: 'M = 4, 1F1B', microbatches: 4, schedule: '1f1b' },
  ];

  it.each(cases)(
    '$name: weights after three Adam steps match (max abs diff ≤ 1e-4)',
    async ({ name, microbatches, schedule }) => {
      const { tf } = layers.engine;
      const clients = layers.clients();
      const jobId = `eq-${name.replace(/[^a-z0-9]+/gi, '-')}`;
      await Promise.all(
        clients.map((c, k) =>
          c.initialize(
            jobId,
            11 + k,
            { name: 'adam', learningRate: 0.001 },
            SEED_LAYERS[k]?.type ?? '',
            SEED_LAYERS[k]?.config,
          ),
        ),
      );
      const initial = await layerWeights(clients, jobId);
      const model = buildChainModel(tf, specs, SHAPE);
      setChainWeights(model, specs, initial);
      dispose(initial);
      const optimizer = tf.train.adam(0.001, 0.9, 0.999, 1e-7);
      const tensorsAfter: number[] = [];

      for (let step = 1; step <= 3; step++) {
        const batch = randomBatch(32, 100 + step);
        const result = await trainStep(clients, batch, { jobId, step, microbatches, schedule });
        const xs = tf.tensor(batch.x, [batch.rows, ...SHAPE]);
        const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 10));
        const expected = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tfjs.Tensor),
          true,
        );
        expect(result.loss).toBeCloseTo(expected?.dataSync()[0] ?? NaN, 4);
        tf.dispose([xs, ys, expected ?? []]);
        tensorsAfter.push(tf.memory().numTensors);
      }

      const pipeline = await layerWeights(clients, jobId);
      const reference = getChainWeights(model, specs);
      expect(maxAbsDiff(tf, pipeline, reference)).toBeLessThanOrEqual(1e-4);
      dispose(pipeline);
      dispose(reference);
      // The layers freed every micro-batch's kept input after its backward.
      for (const server of layers.servers) expect((await server.registry.get(jobId)).heldCount()).toBe(0);
      // Nothing grows per step: optimizer slots exist from step 1 on, activations are freed.
      expect(tensorsAfter[2]).toBe(tensorsAfter[1]);
      model.dispose();
      optimizer.dispose();
    },
  );
});
