// Duplicate deliveries at every shard-workload event handler, each on its real HTTP stack over
// loopback with a temp-dir store: the same event 3× in a row and 3× at once is applied once.
// - splitter (`training.requested`): one job, its record and initial model created once, one
//   set of shard.ready ids;
// - shard trainer (`shard.ready`): the shard trained and its weights (the checkpoint) written
//   once, every answer reporting that one result under one event id; also across two pods;
// - aggregator (`shard.trained`) across two pods, which share nothing but the store: the shard
//   counted once, the round aggregated once (duplicates.reliability.ts covers one pod);
// - predictor (`model.aggregated`): the model reloaded once.
// A Store wrapper counts the writes that landed, so "once" is counted, not inferred.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, type ShardReady, type ShardTrained, type TrainingRequested } from '../../events/catalog.js';
import { createEvent, memoryEmit } from '../../events/emit.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { decodeWeights, encodeWeightSet, SHARD_RESULT_KEY } from '../../functions/_shared/jobs/artifacts.js';
import { deriveJobId } from '../../functions/_shared/jobs/ids.js';
import { jobLayout } from '../../functions/_shared/jobs/layout.js';
import { readJob } from '../../functions/_shared/jobs/record.js';
import { createLogger } from '../../functions/_shared/log.js';
import type { Store } from '../../functions/_shared/store/types.js';
import type { ArrivalOutcome } from '../../functions/aggregator/collect.js';
import { createAggregatorHandler } from '../../functions/aggregator/handler.js';
import { createTrainerHandler } from '../../functions/shard-trainer/handler.js';
import type { TrainOutcome } from '../../functions/shard-trainer/train-shard.js';
import { createSplitterHandler } from '../../functions/splitter/handler.js';
import { aggregated, startHarness, type Harness } from '../support/predictor.js';
import {
  postEvent,
  prepareJob,
  quietSink,
  serve,
  tempStore,
  writeMnistSubset,
  type Served,
  type TempStore,
} from '../support/jobs.js';

const logger = createLogger('duplicates', quietSink());
let tf: typeof tfjs;
let temp: TempStore;
const servers: Served[] = [];

beforeAll(async () => {
  tf = (await initEngine()).tf;
  temp = await tempStore('kaskade-reliability-handlers-');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await temp.remove();
});

/** The store as a pod sees it, counting every write that landed (by URL; creates also as `create:<url>`). */
function countingStore(store: Store, landed: Map<string, number>): Store {
  const count = (url: string) => landed.set(url, (landed.get(url) ?? 0) + 1);
  return {
    read: (url, o) => store.read(url, o),
    exists: (url) => store.exists(url),
    list: (url) => store.list(url),
    delete: (url) => store.delete(url),
    write: async (url, data, o) => {
      await store.write(url, data, o);
      count(url);
      if (o?.ifAbsent === true) count(`create:${url}`);
    },
    swapPointer: async (url, expected, next) => {
      await store.swapPointer(url, expected, next);
      count(url);
      if (expected === undefined) count(`create:${url}`);
    },
    modelHandler: (url) => store.modelHandler(url),
  };
}

const MODES = [
  { mode: 'in a row', concurrent: false },
  { mode: 'at once', concurrent: true },
] as const;

/** Three sends: one after another, or all together. */
async function thrice<T>(concurrent: boolean, send: (i: number) => Promise<T>): Promise<T[]> {
  if (concurrent) return Promise.all([0, 1, 2].map(send));
  const out: T[] = [];
  for (const i of [0, 1, 2]) out.push(await send(i));
  return out;
}

describe('splitter: the same training.requested 3×', () => {
  let dataset: string;
  beforeAll(async () => {
    dataset = `${temp.root}/datasets/mnist-dup/`;
    await writeMnistSubset(temp.store, dataset, 60, 20);
  });

  it.each(MODES)('$mode: one job, created once, one set of shard.ready ids', async ({ concurrent }) => {
    const landed = new Map<string, number>();
    const recorder = memoryEmit();
    const deps = { tf, store: countingStore(temp.store, landed), emit: recorder.emit, logger };
    const served = await serve(
      'splitter',
      createSplitterHandler(
        () => Promise.resolve(deps),
        { defaultRoot: temp.root, defaultQuorum: 1, defaultRoundTimeoutSeconds: undefined },
        logger,
      ),
    );
    servers.push(served);
    const request: TrainingRequested = {
      dataset,
      shards: 3,
      strategy: 'iid',
      rounds: 2,
      localEpochs: 1,
      batchSize: 16,
      model: 'mnist-cnn',
    };
    const id = `train-dup-${concurrent ? 'once' : 'row'}`;
    const event = createEvent(EVENT_TYPES.trainingRequested, request, { source: '/kaskade/cli', id });
    const answers = await thrice(concurrent, async () => {
      const res = await postEvent(served.base, event);
      return { status: res.status, body: (await res.json()) as { jobId: string; outcome: string } };
    });
    const jobId = deriveJobId('/kaskade/cli', id);
    const layout = jobLayout(temp.root, jobId);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(new Set(answers.map((a) => a.body.jobId))).toEqual(new Set([jobId]));
    expect(answers.filter((a) => a.body.outcome === 'started').length).toBeGreaterThanOrEqual(1);
    // Created once: the job record and the initial weights.
    expect(landed.get(`create:${layout.record}`)).toBe(1);
    expect(landed.get(`create:${layout.roundModel(0)}`)).toBe(1);
    const record = await readJob(temp.store, layout.record);
    expect(record).toMatchObject({ jobId, status: 'running', currentRound: 1, results: [] });
    const ready = recorder.events.filter((e) => e.type === EVENT_TYPES.shardReady);
    expect(new Set(ready.map((e) => e.id))).toEqual(new Set([0, 1, 2].map((k) => `${jobId}.r1.s${k}.ready`)));
    // Copies of one id carry the same data: the trainer sees the same event again.
    for (const e of ready) expect(e.data).toEqual(ready.find((f) => f.id === e.id)?.data);
  });
});

describe('shard trainer: the same shard.ready 3×', () => {
  it.each([...MODES.map((m) => ({ ...m, pods: 1 })), { mode: 'at once, to two pods', concurrent: true, pods: 2 }])(
    '$mode: the checkpoint written once, every answer the same result',
    async ({ mode, concurrent, pods }) => {
      const jobId = `job-dup-trainer-${mode.replace(/\W+/g, '-')}`;
      const prepared = await prepareJob(tf, temp.store, temp.root, jobId, { shards: 2, perShard: 16, test: 10 });
      const landed = new Map<string, number>();
      const recorder = memoryEmit();
      const trainers: Served[] = [];
      for (let p = 0; p < pods; p++) {
        // Each pod its own handler, store client and memory; only the storage is shared.
        const deps = { tf, store: countingStore(temp.store, landed), emit: recorder.emit, logger };
        const served = await serve(
          'shard-trainer',
          createTrainerHandler(() => Promise.resolve(deps), { evalExamples: 16 }, logger),
        );
        servers.push(served);
        trainers.push(served);
      }
      const data = prepared.ready[0] as ShardReady;
      const event = createEvent(EVENT_TYPES.shardReady, data, {
        source: '/kaskade/splitter',
        id: `${jobId}.r1.s0.ready`,
      });
      const before = tf.memory().numTensors;
      const answers = await thrice(concurrent, async (i) => {
        const res = await postEvent((trainers[i % trainers.length] as Served).base, event);
        return { status: res.status, body: (await res.json()) as TrainOutcome };
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      const weightsUrl = prepared.layout.shardWeights(1, 0);
      // The checkpoint landed once; racing deliveries may train, but only one write lands.
      expect(landed.get(weightsUrl)).toBe(1);
      if (!concurrent) expect(answers.map((a) => a.body.outcome)).toEqual(['trained', 'replayed', 'replayed']);
      const stored = JSON.parse(
        decodeWeights(await temp.store.read(weightsUrl), weightsUrl).metadata[SHARD_RESULT_KEY] ?? 'null',
      ) as ShardTrained;
      for (const a of answers) expect(a.body.result).toEqual(stored);
      const trained = recorder.events.filter((e) => e.type === EVENT_TYPES.shardTrained);
      expect(new Set(trained.map((e) => e.id))).toEqual(new Set([`${jobId}.r1.s0.trained`]));
      for (const e of trained) expect(e.data).toEqual(stored);
    },
  );
});

describe('aggregator across two pods: the same shard.trained 3× at once to each', () => {
  it('the shard counted once, the round aggregated once', async () => {
    const jobId = 'job-dup-two-pods';
    const prepared = await prepareJob(tf, temp.store, temp.root, jobId, {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    const landed = new Map<string, number>();
    const recorder = memoryEmit();
    const pods: Served[] = [];
    for (let p = 0; p < 2; p++) {
      const deps = { tf, store: countingStore(temp.store, landed), emit: recorder.emit, logger };
      const served = await serve(
        'aggregator',
        createAggregatorHandler(
          () => Promise.resolve(deps),
          { roots: [temp.root], leaseMs: 600_000, maxHoldMs: 5_000, evalBatchSize: 64 },
          logger,
        ),
      );
      servers.push(served);
      pods.push(served);
    }
    const initial = decodeWeights(await temp.store.read(prepared.layout.roundModel(0)), 'initial').weights;
    const deliverEverywhere = async (k: number): Promise<{ status: number; body: ArrivalOutcome }[]> => {
      const result: ShardTrained = {
        jobId,
        round: 1,
        shardIndex: k,
        shards: 2,
        weightsUrl: prepared.layout.shardWeights(1, k),
        exampleCount: 10,
        metrics: { loss: 1, accuracy: 0.5, samplesPerSec: 10 },
      };
      await temp.store.write(
        result.weightsUrl,
        encodeWeightSet(initial, { [SHARD_RESULT_KEY]: JSON.stringify(result) }),
      );
      const event = createEvent(EVENT_TYPES.shardTrained, result, {
        source: '/kaskade/shard-trainer',
        id: `${jobId}.r1.s${k}.trained`,
      });
      return Promise.all(
        [...pods, ...pods, ...pods].map(async (pod) => {
          const res = await postEvent(pod.base, event);
          return { status: res.status, body: (await res.json()) as ArrivalOutcome };
        }),
      );
    };
    const first = await deliverEverywhere(0);
    expect(first.every((a) => a.status === 200)).toBe(true);
    expect(first.filter((a) => a.body.recorded)).toHaveLength(1);
    const last = await deliverEverywhere(1);
    // A copy that finds the round being aggregated by the other pod may be told to come back
    // (503, retried by the broker); none is counted twice.
    expect(
      last.every((a) => a.status === 200 || a.status === 503),
      JSON.stringify(last),
    ).toBe(true);
    expect(last.filter((a) => a.status === 200 && a.body.recorded)).toHaveLength(1);
    expect(landed.get(prepared.layout.arrival(1, 0))).toBe(1);
    expect(landed.get(prepared.layout.arrival(1, 1))).toBe(1);
    expect(landed.get(prepared.layout.roundModel(1))).toBe(1);
    expect(recorder.events.filter((e) => e.type === EVENT_TYPES.modelAggregated)).toHaveLength(1);
    expect(recorder.events.filter((e) => e.type === EVENT_TYPES.shardReady)).toHaveLength(2);
    const job = await readJob(temp.store, prepared.layout.record);
    expect(job).toMatchObject({ status: 'running', currentRound: 2 });
    expect(job.results.map((r) => r.round)).toEqual([1]);
  });
});

describe('predictor: the same final model.aggregated 3×', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it.each(MODES)('$mode: the model reloaded once', async ({ mode, concurrent }) => {
    const jobId = `job-dup-predictor-${concurrent ? 'once' : 'row'}`;
    await h.publish({ jobId, round: 1, rounds: 1 }, concurrent ? 11 : 12);
    const id = `${jobId}.r1.aggregated`;
    const answers = await thrice(concurrent, () => h.postAggregated(aggregated(jobId, 1, 1, true), { id }));
    const outcomes = answers.map((r) => r.headers.get('x-kaskade-outcome'));
    expect(answers.map((r) => r.status)).toEqual([204, 204, 204]);
    expect(
      outcomes.filter((o) => o === 'reloaded'),
      `${mode}: ${outcomes.join(', ')}`,
    ).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(2);
    const versions = ((await (await fetch(`${h.url}/v2/models/mnist`)).json()) as { versions: string[] }).versions;
    expect(versions[0]).toBe(`${jobId}-r1`);
  });
});
