// The shard workload end to end in one process: the splitter, two shard trainers and the
// aggregator, each behind the Functions Framework's HTTP server on its own ephemeral port,
// sharing a temp-dir store. Events are recorded by an in-memory emitter and carried by hand to
// the function a Trigger would deliver them to (as binary-mode CloudEvents over HTTP).
// Job: a small real MNIST subset, 2 shards × 2 rounds, 1 local epoch.
import type * as tfjs from '@tensorflow/tfjs';
import type { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, validateEventData, type TrainingRequested } from '../events/catalog.js';
import { createEvent, memoryEmit } from '../events/emit.js';
import { createAggregatorHandler } from '../functions/aggregator/handler.js';
import { initEngine } from '../functions/_shared/engine/index.js';
import { modelsLayout } from '../functions/_shared/jobs/layout.js';
import type { JobSummary } from '../functions/_shared/jobs/record.js';
import {
  postEvent,
  quietSink,
  serve,
  tempStore,
  writeMnistSubset,
  type Served,
  type TempStore,
} from './support/jobs.js';
import { createLogger } from '../functions/_shared/log.js';
import { decodeModelMetadata, decodeVocabulary } from '../functions/_shared/models/metadata.js';
import { readLatest } from '../functions/_shared/store/latest.js';
import { createTrainerHandler } from '../functions/shard-trainer/handler.js';
import { createSplitterHandler } from '../functions/splitter/handler.js';

const logger = createLogger('shard-workload-test', quietSink());
let tf: typeof tfjs;
let temp: TempStore;
let recorder: ReturnType<typeof memoryEmit>;
let splitter: Served;
let trainers: Served[];
let aggregator: Served;

beforeAll(async () => {
  tf = (await initEngine()).tf;
  temp = await tempStore('kaskade-workload-');
  await writeMnistSubset(temp.store, `${temp.root}/datasets/mnist/`, 600, 200);
  recorder = memoryEmit();
  const deps = { tf, store: temp.store, emit: recorder.emit, logger };
  splitter = await serve(
    'splitter',
    createSplitterHandler(
      () => Promise.resolve(deps),
      { defaultRoot: temp.root, defaultQuorum: 1, defaultRoundTimeoutSeconds: undefined },
      logger,
    ),
  );
  trainers = await Promise.all(
    [0, 1].map(() =>
      serve(
        'shard-trainer',
        createTrainerHandler(() => Promise.resolve(deps), { evalExamples: 128 }, logger),
      ),
    ),
  );
  aggregator = await serve(
    'aggregator',
    createAggregatorHandler(
      () => Promise.resolve(deps),
      { roots: [temp.root], leaseMs: 60_000, maxHoldMs: 1000, evalBatchSize: 256 },
      logger,
    ),
  );
});
afterAll(async () => {
  await Promise.all([splitter, aggregator, ...trainers].map((s) => s.close()));
  await temp.remove();
});

async function deliver(url: string, event: CloudEvent<unknown>): Promise<void> {
  const res = await postEvent(url, event);
  if (!res.ok) throw new Error(`${event.type} → ${url}: ${res.status} ${await res.text()}`);
}

/** Delivers recorded events the way the manifests' Triggers route them, until none are left. */
async function drain(): Promise<CloudEvent<unknown>[]> {
  const delivered: CloudEvent<unknown>[] = [];
  while (recorder.events.length > 0) {
    const batch = recorder.events.splice(0);
    delivered.push(...batch);
    await Promise.all(
      batch.map((event) => {
        if (event.type === EVENT_TYPES.shardReady) {
          const shard = validateEventData(EVENT_TYPES.shardReady, event.data).shardIndex;
          return deliver(trainers[shard % trainers.length]?.base ?? '', event);
        }
        if (event.type === EVENT_TYPES.shardTrained) return deliver(aggregator.base, event);
        return Promise.resolve(); // model.aggregated goes to the predictor, not part of this test
      }),
    );
  }
  return delivered;
}

describe('shard workload', () => {
  it('splits, trains 2 shards for 2 rounds, averages, and publishes a model that loads and predicts', async () => {
    const request: TrainingRequested = {
      dataset: `${temp.root}/datasets/mnist/`,
      shards: 2,
      strategy: 'iid',
      rounds: 2,
      localEpochs: 1,
      batchSize: 16,
      model: 'mnist-cnn',
      jobId: 'job-e2e',
    };
    await deliver(splitter.base, createEvent(EVENT_TYPES.trainingRequested, request, { source: '/test', id: 'e2e-1' }));
    const events = await drain();

    const trained = events
      .filter((e) => e.type === EVENT_TYPES.shardTrained)
      .map((e) => validateEventData(EVENT_TYPES.shardTrained, e.data));
    expect(trained.map((t) => `${t.round}:${t.shardIndex}`).sort()).toEqual(['1:0', '1:1', '2:0', '2:1']);
    expect(trained.every((t) => t.exampleCount === 300)).toBe(true);
    const aggregated = events
      .filter((e) => e.type === EVENT_TYPES.modelAggregated)
      .map((e) => validateEventData(EVENT_TYPES.modelAggregated, e.data));
    expect(aggregated.map((a) => [a.round, a.final, a.participants])).toEqual([
      [1, false, 2],
      [2, true, 2],
    ]);
    const final = aggregated[1];
    expect(final?.testAccuracy).toBeGreaterThan(0.3); // 10 classes: chance is 0.1

    const models = modelsLayout(temp.root, 'mnist');
    expect(await readLatest(temp.store, models.folder)).toBe('job-e2e/');
    const folder = models.version('job-e2e');
    expect(final?.modelUrl).toBe(folder);
    expect(decodeModelMetadata(await temp.store.read(`${folder}kaskade.json`))).toMatchObject({
      jobId: 'job-e2e',
      round: 2,
      rounds: 2,
      testAccuracy: final?.testAccuracy,
      labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    });
    const model = await tf.loadLayersModel(temp.store.modelHandler(folder));
    const sums = tf.tidy(() => (model.predict(tf.zeros([2, 28, 28, 1])) as tfjs.Tensor).sum(1).arraySync() as number[]);
    expect(sums.map((s) => Math.round(s * 1000) / 1000)).toEqual([1, 1]);
    model.dispose();

    const status = (await (await fetch(`${aggregator.base}/jobs/job-e2e`)).json()) as JobSummary;
    expect(status).toMatchObject({ status: 'done', rounds: 2, results: [{ round: 1 }, { round: 2 }] });

    // The whole request once more (a redelivery): nothing is started again.
    await deliver(splitter.base, createEvent(EVENT_TYPES.trainingRequested, request, { source: '/test', id: 'e2e-1' }));
    expect(recorder.events).toEqual([]);
  });

  it('trains a text model on reviews and publishes it with its vocabulary', async () => {
    const request: TrainingRequested = {
      dataset: 'imdb:synthetic?train=80&test=40',
      shards: 2,
      strategy: 'by-label',
      rounds: 1,
      localEpochs: 2,
      batchSize: 16,
      model: 'imdb-fast',
      jobId: 'job-text',
    };
    await deliver(
      splitter.base,
      createEvent(EVENT_TYPES.trainingRequested, request, { source: '/test', id: 'text-1' }),
    );
    const events = await drain();
    const final = events
      .filter((e) => e.type === EVENT_TYPES.modelAggregated)
      .map((e) => validateEventData(EVENT_TYPES.modelAggregated, e.data));
    expect(final).toEqual([expect.objectContaining({ jobId: 'job-text', final: true, participants: 2 })]);
    const folder = modelsLayout(temp.root, 'imdb').version('job-text');
    const metadata = decodeModelMetadata(await temp.store.read(`${folder}kaskade.json`));
    expect(metadata).toMatchObject({
      model: 'imdb-fast',
      dataset: 'imdb',
      labels: ['negative', 'positive'],
      input: { kind: 'tokens', padIndex: 0, oovIndex: 2, vocabularyFile: 'vocabulary.json' },
    });
    if (metadata.input.kind !== 'tokens') throw new Error('not a token model');
    const words = decodeVocabulary(await temp.store.read(`${folder}vocabulary.json`));
    expect(metadata.input.vocabularySize).toBe(words.length + 3);
    const model = await tf.loadLayersModel(temp.store.modelHandler(folder));
    const shape = tf.tidy(
      () =>
        (
          model.predict(
            tf.zeros([3, metadata.input.kind === 'tokens' ? metadata.input.sequenceLength : 1], 'int32'),
          ) as tfjs.Tensor
        ).shape,
    );
    expect(shape).toEqual([3, 1]);
    model.dispose();
  });
});
