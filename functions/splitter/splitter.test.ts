// The splitter through HTTP (the Functions Framework's server on an ephemeral port), with a
// temp-dir store and a recording emitter.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, validateEventData, type TrainingRequested } from '../../events/catalog.js';
import { createEvent, memoryEmit, toHttpMessage } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import { decodeExamples, decodeWeights } from '../_shared/jobs/artifacts.js';
import { deriveJobId } from '../_shared/jobs/ids.js';
import { jobLayout } from '../_shared/jobs/layout.js';
import { readJob } from '../_shared/jobs/record.js';
import { quietSink, serve, tempStore, writeMnistSubset, type Served, type TempStore } from '../../test/support/jobs.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createSplitterHandler } from './handler.js';
import type { SplitterDeps } from './split.js';

const logger = createLogger('splitter-test', quietSink());
let temp: TempStore;
let server: Served;
let recorder: ReturnType<typeof memoryEmit>;
let dataset: string;

beforeAll(async () => {
  temp = await tempStore('kaskade-splitter-');
  dataset = `${temp.root}/datasets/mnist-small/`;
  await writeMnistSubset(temp.store, dataset, 120, 40);
  recorder = memoryEmit();
  const { tf } = await initEngine();
  const deps: SplitterDeps = { tf, store: temp.store, emit: recorder.emit, logger };
  server = await serve(
    'splitter',
    createSplitterHandler(
      () => Promise.resolve(deps),
      { defaultRoot: temp.root, defaultQuorum: 1, defaultRoundTimeoutSeconds: undefined },
      logger,
    ),
  );
});
afterAll(async () => {
  await server.close();
  await temp.remove();
});

function request(overrides: Partial<TrainingRequested> = {}): TrainingRequested {
  return {
    dataset,
    shards: 3,
    strategy: 'iid',
    rounds: 2,
    localEpochs: 1,
    batchSize: 16,
    model: 'mnist-cnn',
    ...overrides,
  };
}

/** Posts `data` (valid or not) as a binary-mode CloudEvent of `type`: headers from a valid event, the body as given. */
async function post(type: string, data: unknown, id: string): Promise<Response> {
  const { headers } = toHttpMessage(createEvent(EVENT_TYPES.trainingRequested, request(), { source: '/test', id }));
  return fetch(server.base, { method: 'POST', headers: { ...headers, 'ce-type': type }, body: JSON.stringify(data) });
}

async function jobFolders(): Promise<string[]> {
  return readdir(join(temp.dir, 'jobs')).catch(() => []);
}

describe('splitter', () => {
  it('answers its readiness probe', async () => {
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
  });

  it('refuses anything but a POSTed event with 405 and a JSON error', async () => {
    const res = await fetch(server.base, { method: 'PUT', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(((await res.json()) as { code: string }).code).toBe('method_not_allowed');
  });

  it.each([
    { name: 'missing shard count', data: () => ({ ...request(), shards: undefined }), error: /data\.shards/ },
    { name: 'zero shards', data: () => request({ shards: 0 }), error: /data\.shards/ },
    { name: 'unknown strategy', data: () => ({ ...request(), strategy: 'random' }), error: /data\.strategy/ },
    { name: 'unknown model', data: () => request({ model: 'resnet-9000' }), error: /unknown model "resnet-9000"/ },
    { name: 'text model on images', data: () => request({ model: 'imdb-fast' }), error: /takes text data/ },
    { name: 'dataset without a scheme', data: () => request({ dataset: 'mnist' }), error: /data\.dataset/ },
    { name: 'unknown dataset kind', data: () => request({ dataset: 'cifar:npm' }), error: /cifar:npm/ },
    {
      name: 'storage root outside the configured roots',
      data: () => request({ storageRoot: 'file:///etc/kaskade' }),
      error: /outside the storage roots/,
      status: 400,
    },
    {
      name: 'more shards than examples',
      data: () => request({ shards: 64, strategy: 'by-label' }),
      error: /at least 128 examples/,
    },
    { name: 'bad job id', data: () => ({ ...request(), jobId: '../escape' }), error: /data\.jobId/ },
  ])('refuses $name with a 4xx and creates no job', async ({ data, error, status }) => {
    const body = data();
    const before = recorder.events.length;
    const res = await post(EVENT_TYPES.trainingRequested, body, `bad-${Math.random()}`);
    expect(res.status).toBe(status ?? 400);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
    expect(await jobFolders()).toEqual([]);
    expect(recorder.events.length).toBe(before);
  });

  it('refuses a body that is not a CloudEvent', async () => {
    const res = await fetch(server.base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request()),
    });
    expect(res.status).toBe(400);
    expect(await jobFolders()).toEqual([]);
  });

  it('cuts the shards, writes one initial model and the record, and emits N shard.ready; a redelivery changes nothing', async () => {
    const { tf } = await initEngine();
    const tensorsBefore = tf.memory().numTensors;
    const res = await post(EVENT_TYPES.trainingRequested, request(), 'req-1');
    expect(res.status).toBe(202);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const result = (await res.json()) as { jobId: string; outcome: string; status: string };
    const jobId = deriveJobId('/test', 'req-1');
    expect(result).toMatchObject({ jobId, outcome: 'started', status: 'running' });

    const layout = jobLayout(temp.root, jobId);
    const job = await readJob(temp.store, layout.record);
    expect(job).toMatchObject({
      status: 'running',
      currentRound: 1,
      config: { shards: 3, rounds: 2, optimizer: 'adam', quorum: 1 },
      serving: { name: 'mnist-small' },
    });
    expect(job.data?.shardExamples).toEqual([40, 40, 40]);
    const shards = await Promise.all(
      [0, 1, 2].map(async (k) => decodeExamples(await temp.store.read(layout.shard(k)), 'shard')),
    );
    expect(shards.map((s) => s.n)).toEqual([40, 40, 40]);
    expect(decodeExamples(await temp.store.read(layout.testSet), 'test').n).toBe(40);
    expect(Object.keys(decodeWeights(await temp.store.read(layout.roundModel(0)), 'initial').weights)).toHaveLength(6);
    expect(await temp.store.exists(`${layout.architecture}model.json`)).toBe(true);

    const ready = recorder.events.filter((e) => e.type === EVENT_TYPES.shardReady);
    expect(ready).toHaveLength(3);
    const data = ready.map((e) => validateEventData(EVENT_TYPES.shardReady, e.data));
    expect(data.map((d) => d.shardIndex).sort()).toEqual([0, 1, 2]);
    expect(new Set(data.map((d) => d.globalModelUrl))).toEqual(new Set([layout.roundModel(0)]));
    expect(data.every((d) => d.round === 1 && d.shards === 3 && d.exampleCount === 40)).toBe(true);
    expect(new Set(ready.map((e) => e.id)).size).toBe(3);

    const again = await post(EVENT_TYPES.trainingRequested, request(), 'req-1');
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ jobId, outcome: 'existing' });
    expect(recorder.events.filter((e) => e.type === EVENT_TYPES.shardReady)).toHaveLength(3);
    expect(await jobFolders()).toEqual([jobId]);
  });

  it('starts a job from a PingSource tick, and refuses to reuse a job id for another request', async () => {
    const ping = await post(EVENT_TYPES.ping, request({ jobId: 'nightly-1', strategy: 'copy', shards: 2 }), 'ping-1');
    expect(ping.status).toBe(202);
    const layout = jobLayout(temp.root, 'nightly-1');
    const job = await readJob(temp.store, layout.record);
    expect(job.config.strategy).toBe('copy');
    const ready = recorder.events.filter(
      (e) =>
        e.type === EVENT_TYPES.shardReady && validateEventData(EVENT_TYPES.shardReady, e.data).jobId === 'nightly-1',
    );
    expect(ready.map((e) => validateEventData(EVENT_TYPES.shardReady, e.data).shardUrl)).toEqual([
      layout.trainSet,
      layout.trainSet,
    ]);
    const clash = await post(EVENT_TYPES.trainingRequested, request({ jobId: 'nightly-1', shards: 3 }), 'other');
    expect(clash.status).toBe(400);
  });

  it('starts one job per Cloud Scheduler run on /scheduled, keyed by the run time', async () => {
    const scheduled = (time: string | undefined, body: unknown): Promise<Response> =>
      fetch(`${server.base}/scheduled`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-cloudscheduler-jobname': 'kaskade-nightly',
          ...(time ? { 'x-cloudscheduler-scheduletime': time } : {}),
        },
        body: JSON.stringify(body),
      });
    const first = await scheduled('2026-11-23T03:00:00Z', request({ shards: 2 }));
    expect(first.status).toBe(202);
    const { jobId } = (await first.json()) as { jobId: string };
    expect(jobId).toBe(deriveJobId('/kaskade/cloud-scheduler/kaskade-nightly', 'scheduled-2026-11-23T03:00:00Z'));
    const retried = await scheduled('2026-11-23T03:00:00Z', request({ shards: 2 }));
    expect(await retried.json()).toMatchObject({ jobId, outcome: 'existing' });
    const nextNight = await scheduled('2026-11-24T03:00:00Z', request({ shards: 2 }));
    expect(((await nextNight.json()) as { jobId: string }).jobId).not.toBe(jobId);

    const before = (await jobFolders()).length;
    const noTime = await scheduled(undefined, request());
    expect(noTime.status).toBe(400);
    expect(((await noTime.json()) as { error: string }).error).toMatch(/ScheduleTime/);
    const badBody = await scheduled('2026-11-25T03:00:00Z', { ...request(), shards: 0 });
    expect(badBody.status).toBe(400);
    expect((await jobFolders()).length).toBe(before);
  });
});

describe('loadConfig', () => {
  it.each([
    {
      name: 'defaults',
      env: { KASKADE_BROKER_URL: 'http://broker', KASKADE_STORAGE_ROOTS: 'file:///data' },
      expected: { defaultRoot: 'file:///data', defaultQuorum: 1, defaultRoundTimeoutSeconds: undefined },
    },
    {
      name: 'quorum and timeout',
      env: {
        KASKADE_BROKER_URL: 'http://broker',
        KASKADE_STORAGE_ROOTS: 'gs://bucket/p,file:///data',
        KASKADE_ROUND_QUORUM: '0.5',
        KASKADE_ROUND_TIMEOUT_S: '30',
      },
      expected: { defaultRoot: 'gs://bucket/p', defaultQuorum: 0.5, defaultRoundTimeoutSeconds: 30 },
    },
  ])('$name', ({ env, expected }) => {
    expect(loadConfig(env).settings).toEqual(expected);
  });

  it.each([
    { name: 'no broker', env: { KASKADE_STORAGE_ROOTS: 'file:///data' }, error: /KASKADE_BROKER_URL/ },
    {
      name: 'quorum above 1',
      env: { KASKADE_BROKER_URL: 'http://b', KASKADE_ROUND_QUORUM: '2' },
      error: /KASKADE_ROUND_QUORUM/,
    },
  ])('refuses $name', ({ env, error }) => {
    expect(() => loadConfig(env)).toThrow(error);
  });
});
