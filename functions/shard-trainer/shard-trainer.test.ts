// The shard trainer through HTTP (the Functions Framework's server on an ephemeral port), on a
// job laid out in a temp-dir store, with a recording emitter.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, validateEventData, type ShardTrained } from '../../events/catalog.js';
import { createEvent, memoryEmit } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import { decodeWeights } from '../_shared/jobs/artifacts.js';
import { failJob } from '../_shared/jobs/record.js';
import type { ShardReady } from '../../events/catalog.js';
import {
  postEvent,
  prepareJob,
  quietSink,
  serve,
  tempStore,
  type PreparedJob,
  type Served,
  type TempStore,
} from '../../test/support/jobs.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createTrainerHandler } from './handler.js';
import type { TrainOutcome } from './train-shard.js';

const logger = createLogger('shard-trainer-test', quietSink());
let tf: typeof tfjs;
let temp: TempStore;
let server: Served;
let recorder: ReturnType<typeof memoryEmit>;
let prepared: PreparedJob;

beforeAll(async () => {
  tf = (await initEngine()).tf;
  temp = await tempStore('kaskade-trainer-');
  prepared = await prepareJob(tf, temp.store, temp.root, 'job-t', { shards: 2, perShard: 48, test: 20 });
  recorder = memoryEmit();
  const deps = { tf, store: temp.store, emit: recorder.emit, logger };
  server = await serve(
    'shard-trainer',
    createTrainerHandler(() => Promise.resolve(deps), { evalExamples: 32 }, logger),
  );
});
afterAll(async () => {
  await server.close();
  await temp.remove();
});

function ready(k: number, overrides: Partial<ShardReady> = {}): ShardReady {
  const data = prepared.ready[k];
  if (!data) throw new Error(`no shard ${k}`);
  return { ...data, ...overrides };
}

async function post(
  data: ShardReady,
  id = `ready-${data.shardIndex}`,
): Promise<{ status: number; body: TrainOutcome & { error?: string } }> {
  const res = await postEvent(server.base, createEvent(EVENT_TYPES.shardReady, data, { source: '/test', id }));
  return { status: res.status, body: (await res.json()) as TrainOutcome & { error?: string } };
}

const trained = (): ShardTrained[] =>
  recorder.events
    .filter((e) => e.type === EVENT_TYPES.shardTrained)
    .map((e) => validateEventData(EVENT_TYPES.shardTrained, e.data));

describe('shard trainer', () => {
  it('trains its shard from the global weights, writes its weights with the result, emits shard.trained, leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const { status, body } = await post(ready(0));
    expect(status).toBe(200);
    expect(tf.memory().numTensors).toBe(before);
    expect(body.outcome).toBe('trained');
    const url = prepared.layout.shardWeights(1, 0);
    expect(body.result).toMatchObject({
      jobId: 'job-t',
      round: 1,
      shardIndex: 0,
      shards: 2,
      weightsUrl: url,
      exampleCount: 48,
    });
    expect(body.result?.metrics.loss).toBeGreaterThan(0);
    const file = decodeWeights(await temp.store.read(url), url);
    const initial = decodeWeights(await temp.store.read(prepared.layout.roundModel(0)), 'initial');
    expect(Object.keys(file.weights)).toEqual(Object.keys(initial.weights));
    expect(Array.from(file.weights.w0000?.data ?? [])).not.toEqual(Array.from(initial.weights.w0000?.data ?? []));
    expect(trained()).toEqual([body.result]);
    expect(recorder.events.at(-1)?.id).toBe('job-t.r1.s0.trained');
  });

  it('does not retrain a repeated event: it re-emits the stored result', async () => {
    const url = prepared.layout.shardWeights(1, 0);
    const bytes = await temp.store.read(url);
    const { status, body } = await post(ready(0), 'ready-0-again');
    expect(status).toBe(200);
    expect(body.outcome).toBe('replayed');
    expect(body.result).toEqual(trained()[0]);
    expect(Buffer.from(await temp.store.read(url)).equals(Buffer.from(bytes))).toBe(true);
    expect(trained()).toHaveLength(2);
    expect(new Set(recorder.events.map((e) => e.id)).size).toBe(1);
  });

  it('two deliveries of one shard at once write one result and both report it', async () => {
    const [a, b] = await Promise.all([post(ready(1), 'x'), post(ready(1), 'y')]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body.result).toEqual(b.body.result);
    const stored = decodeWeights(await temp.store.read(prepared.layout.shardWeights(1, 1)), 'w').metadata.shardTrained;
    expect(JSON.parse(stored ?? '{}')).toEqual(a.body.result);
  });

  it.each([
    {
      name: 'a global model of another round',
      data: () => ready(0, { round: 2 }),
      status: 400,
      error: /globalModelUrl/,
    },
    {
      name: 'a shard file of another shard',
      data: () => ready(0, { shardUrl: prepared.layout.shard(1) }),
      status: 400,
      error: /shardUrl/,
    },
    { name: 'a wrong shard count', data: () => ready(0, { shards: 3 }), status: 400, error: /data\.shards/ },
    {
      name: 'a round past the last',
      data: () => ready(0, { round: 9, globalModelUrl: prepared.layout.roundModel(8) }),
      status: 400,
      error: /rounds/,
    },
    {
      name: 'a job that does not exist',
      data: () =>
        ready(0, { jobId: 'job-none', globalModelUrl: prepared.layout.roundModel(0).replace('job-t', 'job-none') }),
      status: 404,
      error: /job-none/,
    },
  ])('refuses $name', async ({ data, status, error }) => {
    const res = await post(data(), 'bad');
    expect(res.status).toBe(status);
    expect(res.body.error).toMatch(error);
  });

  it('skips a shard of a job that has failed', async () => {
    const other = await prepareJob(tf, temp.store, temp.root, 'job-gone', { shards: 1, perShard: 8, test: 4 });
    await failJob(temp.store, other.layout.record, { reason: 'test', stage: 'train' });
    const data = other.ready[0];
    if (!data) throw new Error('no shard');
    const { status, body } = await post(data, 'gone');
    expect(status).toBe(200);
    expect(body.outcome).toBe('skipped');
    expect(await temp.store.exists(other.layout.shardWeights(1, 0))).toBe(false);
  });

  it('answers its readiness probe', async () => {
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
  });
});

describe('loadConfig', () => {
  it.each([
    { name: 'default evaluation size', env: { KASKADE_BROKER_URL: 'http://b' }, expected: 1024 },
    {
      name: 'evaluation size from env',
      env: { KASKADE_BROKER_URL: 'http://b', KASKADE_TRAIN_EVAL_EXAMPLES: '64' },
      expected: 64,
    },
  ])('$name', ({ env, expected }) => {
    expect(loadConfig(env).settings.evalExamples).toBe(expected);
  });
});
