// The aggregator through HTTP (the Functions Framework's server on an ephemeral port), on jobs
// laid out in a temp-dir store, with shard results written by hand and a recording emitter.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  EVENT_TYPES,
  validateEventData,
  type EventData,
  type EventType,
  type ShardTrained,
} from '../../events/catalog.js';
import { createEvent, memoryEmit, toHttpMessage } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import type { WeightTensor } from '../_shared/fedavg/average.js';
import { decodeWeights, encodeWeightSet, SHARD_RESULT_KEY } from '../_shared/jobs/artifacts.js';
import { deriveJobId } from '../_shared/jobs/ids.js';
import { modelsLayout } from '../_shared/jobs/layout.js';
import { readJob, type JobRecord, type JobSummary } from '../_shared/jobs/record.js';
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
import { decodeModelMetadata } from '../_shared/models/metadata.js';
import type { Store } from '../_shared/store/types.js';
import { openOnnxModel } from '../_shared/serving/onnx-model.js';
import { TEST_ONNX_SETTINGS } from '../../test/support/onnx-parity.js';
import type { AggregatorDeps, AggregatorSettings } from './aggregate.js';
import type { ArrivalOutcome } from './collect.js';
import { loadConfig } from './config.js';
import { publishModel } from './publish.js';
import { createAggregatorHandler } from './handler.js';
import { arrivedShards, readRoundState, recordArrival } from './rounds.js';
import { UnavailableError } from '../_shared/errors.js';

const logger = createLogger('aggregator-test', quietSink());
let tf: typeof tfjs;
let temp: TempStore;
let settings: AggregatorSettings;
let recorder: ReturnType<typeof memoryEmit>;
let servers: Served[] = [];

/** A fresh aggregator instance over the same storage (as after a scale to zero). */
async function aggregator(overrides: Partial<AggregatorSettings> = {}, store: Store = temp.store): Promise<Served> {
  const deps: AggregatorDeps = { tf, store, emit: recorder.emit, logger };
  const served = await serve(
    'aggregator',
    createAggregatorHandler(() => Promise.resolve(deps), { ...settings, ...overrides }, logger),
  );
  servers.push(served);
  return served;
}

beforeAll(async () => {
  tf = (await initEngine()).tf;
  temp = await tempStore('kaskade-aggregator-');
  settings = { roots: [temp.root], leaseMs: 60_000, maxHoldMs: 5_000, evalBatchSize: 64 };
});
beforeEach(() => {
  recorder = memoryEmit();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  await temp.remove();
});

const ofType = <T extends EventType>(type: T): EventData<T>[] =>
  recorder.events.filter((e) => e.type === type).map((e) => validateEventData(type, e.data));

/** Shard k's result for `round`: the initial weights × `scale`, from `count` examples. */
async function shardResult(
  prepared: PreparedJob,
  round: number,
  k: number,
  scale: number,
  count: number,
): Promise<ShardTrained> {
  const initial = decodeWeights(await temp.store.read(prepared.layout.roundModel(0)), 'initial').weights;
  const scaled: Record<string, WeightTensor> = {};
  for (const [name, t] of Object.entries(initial))
    scaled[name] = { shape: t.shape, data: Float32Array.from(t.data, (v) => v * scale) };
  const weightsUrl = prepared.layout.shardWeights(round, k);
  const result: ShardTrained = {
    jobId: prepared.job.jobId,
    round,
    shardIndex: k,
    shards: prepared.job.config.shards,
    weightsUrl,
    exampleCount: count,
    metrics: { loss: 1, accuracy: 0.5, samplesPerSec: 10 },
  };
  // As a shard trainer writes them: the weights carry the result they belong to.
  await temp.store.write(weightsUrl, encodeWeightSet(scaled, { [SHARD_RESULT_KEY]: JSON.stringify(result) }));
  return result;
}

async function postTrained(
  base: string,
  data: ShardTrained,
  id: string,
): Promise<{ status: number; body: ArrivalOutcome & { error?: string } }> {
  const res = await postEvent(
    base,
    createEvent(EVENT_TYPES.shardTrained, data, { source: '/kaskade/shard-trainer', id }),
  );
  return { status: res.status, body: (await res.json()) as ArrivalOutcome & { error?: string } };
}

const arrive = (base: string, data: ShardTrained, id = `${data.jobId}.r${data.round}.s${data.shardIndex}.trained`) =>
  postTrained(base, data, id);

describe('collecting a round', () => {
  it('counts each shard once, survives a restart mid-round, averages by example count and starts the next round', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-avg', {
      shards: 3,
      perShard: 10,
      test: 30,
      config: { rounds: 2 },
    });
    const results = await Promise.all([
      shardResult(prepared, 1, 0, 1, 10),
      shardResult(prepared, 1, 1, 2, 30),
      shardResult(prepared, 1, 2, 4, 60),
    ]);
    const [r0, r1, r2] = results;
    if (!r0 || !r1 || !r2) throw new Error('no results');
    const first = await aggregator();
    expect((await arrive(first.base, r0)).body).toMatchObject({
      recorded: true,
      round: { outcome: 'waiting', arrived: [0] },
    });
    expect((await arrive(first.base, r0, 'redelivered')).body).toMatchObject({
      recorded: false,
      round: { outcome: 'waiting', arrived: [0] },
    });
    const second = await aggregator(); // the first one scaled to zero: state is in storage
    expect((await arrive(second.base, r1)).body.round).toMatchObject({ outcome: 'waiting', arrived: [0, 1] });
    const tensorsBefore = tf.memory().numTensors;
    const last = await arrive(second.base, r2);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(last.status).toBe(200);
    expect(last.body.round).toMatchObject({
      outcome: 'aggregated',
      round: 1,
      aggregation: { participants: [0, 1, 2], examples: 100, final: false },
    });

    const averaged = decodeWeights(await temp.store.read(prepared.layout.roundModel(1)), 'round 1').weights;
    const initial = decodeWeights(await temp.store.read(prepared.layout.roundModel(0)), 'initial').weights;
    const factor = (1 * 10 + 2 * 30 + 4 * 60) / 100;
    for (const [name, t] of Object.entries(initial)) {
      const got = averaged[name]?.data ?? new Float32Array();
      t.data.forEach((v, i) => expect(got[i]).toBeCloseTo(v * factor, 5));
    }

    const aggregated = ofType(EVENT_TYPES.modelAggregated);
    expect(aggregated).toHaveLength(1);
    expect(aggregated[0]).toMatchObject({
      jobId: 'job-avg',
      round: 1,
      rounds: 2,
      participants: 3,
      final: false,
      modelUrl: prepared.layout.roundModel(1),
    });
    const next = ofType(EVENT_TYPES.shardReady);
    expect(next.map((d) => d.shardIndex).sort()).toEqual([0, 1, 2]);
    expect(next.every((d) => d.round === 2 && d.globalModelUrl === prepared.layout.roundModel(1))).toBe(true);
    const job = await readJob(temp.store, prepared.layout.record);
    expect(job).toMatchObject({ status: 'running', currentRound: 2 });
    expect(job.results).toHaveLength(1);

    // A repeat after the round closed changes nothing.
    expect((await arrive(first.base, r2, 'late-repeat')).body).toMatchObject({
      recorded: false,
      round: { outcome: 'closed', counted: true },
    });
    expect(ofType(EVENT_TYPES.modelAggregated)).toHaveLength(1);
  });

  it('reads the job record once per arrival (and once more to record an aggregated round)', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-reads', {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    const [r0, r1] = await Promise.all([shardResult(prepared, 1, 0, 1, 10), shardResult(prepared, 1, 1, 2, 10)]);
    if (!r0 || !r1) throw new Error('no results');
    let recordReads = 0;
    // The real store, counting the reads of one object on their way through.
    const real = temp.store;
    const counting: Store = {
      read: (url, options) => {
        if (url === prepared.layout.record) recordReads += 1;
        return real.read(url, options);
      },
      write: (url, data, options) => real.write(url, data, options),
      exists: (url) => real.exists(url),
      list: (prefix) => real.list(prefix),
      delete: (url) => real.delete(url),
      swapPointer: (url, expected, next) => real.swapPointer(url, expected, next),
      modelHandler: (folder) => real.modelHandler(folder),
    };
    const served = await aggregator({}, counting);
    expect((await arrive(served.base, r0)).body).toMatchObject({ round: { outcome: 'waiting' } });
    expect(recordReads).toBe(1);
    recordReads = 0;
    expect((await arrive(served.base, r1)).body).toMatchObject({ round: { outcome: 'aggregated' } });
    // One read on arrival; the round's result is then written by compare-and-swap, which reads the record it replaces.
    expect(recordReads).toBe(2);
  });

  it('aggregates exactly once when every shard arrives at the same moment', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-race', { shards: 4, perShard: 5, test: 10 });
    const results = await Promise.all([0, 1, 2, 3].map((k) => shardResult(prepared, 1, k, 1, 5)));
    const servers = await Promise.all([aggregator(), aggregator()]);
    const answers = await Promise.all(
      results.flatMap((r, k) => [
        arrive(servers[k % 2]?.base ?? '', r),
        arrive(servers[(k + 1) % 2]?.base ?? '', r, `dup-${k}`),
      ]),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.body.round.outcome === 'aggregated')).toHaveLength(1);
    expect(answers.filter((a) => a.body.recorded)).toHaveLength(4);
    expect(ofType(EVENT_TYPES.modelAggregated)).toHaveLength(1);
    expect(ofType(EVENT_TYPES.shardReady)).toHaveLength(4);
  });

  it('closes a round with a quorum once its deadline passes, and leaves a late shard out', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-quorum', {
      shards: 3,
      perShard: 5,
      test: 10,
      config: { quorum: 0.5, roundTimeoutSeconds: 1 },
    });
    const [r0, r1, r2] = await Promise.all([0, 1, 2].map((k) => shardResult(prepared, 1, k, 1, 5)));
    if (!r0 || !r1 || !r2) throw new Error('no results');
    const server = await aggregator();
    expect((await arrive(server.base, r0)).body.round).toMatchObject({ outcome: 'waiting', arrived: [0] });
    const started = Date.now();
    const quorum = await arrive(server.base, r1); // the quorum is in: this request holds until the deadline
    expect(quorum.body.round).toMatchObject({ outcome: 'aggregated', aggregation: { participants: [0, 1] } });
    const job = await readJob(temp.store, prepared.layout.record);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(job.results[0]?.finishedAt ?? '') - 5);
    expect(Date.parse(job.results[0]?.finishedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(prepared.job.roundStartedAt ?? '') + 1000,
    );
    expect(Date.now() - started).toBeLessThan(settings.maxHoldMs);
    const late = await arrive(server.base, r2);
    expect(late.body).toMatchObject({ recorded: true, round: { outcome: 'closed', counted: false } });
    expect(ofType(EVENT_TYPES.modelAggregated)).toEqual([expect.objectContaining({ participants: 2 })]);
  });

  it('closes a quorum round on a scheduled re-check once the deadline has passed', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-check', {
      shards: 3,
      perShard: 5,
      test: 10,
      config: { quorum: 0.6, roundTimeoutSeconds: 1 },
    });
    const server = await aggregator({ maxHoldMs: 0 });
    for (const k of [0, 2]) {
      expect((await arrive(server.base, await shardResult(prepared, 1, k, 1, 5))).body.round).toMatchObject({
        outcome: 'waiting',
      });
    }
    const early = await fetch(`${server.base}/jobs/job-check/check`, { method: 'POST' });
    expect(await early.json()).toMatchObject({ outcome: 'waiting', arrived: [0, 2] });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const due = await fetch(`${server.base}/jobs/job-check/check`, { method: 'POST' });
    expect(await due.json()).toMatchObject({ outcome: 'aggregated', aggregation: { participants: [0, 2] } });
    const after = await fetch(`${server.base}/jobs/job-check/check`, { method: 'POST' });
    expect(await after.json()).toMatchObject({ outcome: 'waiting', round: 2 });
  });

  it('publishes the final round where the predictor looks, with its metadata, and marks the job done', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-final', {
      shards: 2,
      perShard: 5,
      test: 20,
      config: { rounds: 1 },
    });
    const results = await Promise.all([0, 1].map((k) => shardResult(prepared, 1, k, 1, 5)));
    const server = await aggregator();
    for (const r of results) await arrive(server.base, r);
    const models = modelsLayout(temp.root, 'mnist-test');
    const folder = models.version('job-final');
    expect(new TextDecoder().decode(await temp.store.read(models.latest))).toBe('job-final/');
    const metadata = decodeModelMetadata(await temp.store.read(`${folder}kaskade.json`));
    expect(metadata).toMatchObject({
      jobId: 'job-final',
      round: 1,
      rounds: 1,
      model: 'mnist-cnn',
      dataset: 'mnist-test',
      input: { kind: 'image', height: 28 },
    });
    const model = await tf.loadLayersModel(temp.store.modelHandler(folder));
    const probabilities = tf.tidy(() => model.predict(tf.zeros([1, 28, 28, 1])) as tfjs.Tensor);
    expect(probabilities.shape).toEqual([1, 10]);
    const onnx = await openOnnxModel(
      await temp.store.read(`${folder}model.onnx`),
      TEST_ONNX_SETTINGS,
      'the published model.onnx',
    );
    const input = onnx.inputs[0]?.name ?? '';
    const answer = await onnx.run({
      [input]: { dtype: 'float32', shape: [1, 28, 28, 1], data: new Float32Array(28 * 28) },
    });
    const onnxProbabilities = Object.values(answer)[0]?.data ?? new Float32Array();
    const tfjsProbabilities = probabilities.dataSync();
    expect(onnxProbabilities).toHaveLength(10);
    onnxProbabilities.forEach((p, k) => expect(Math.abs(Number(p) - (tfjsProbabilities[k] ?? NaN))).toBeLessThan(1e-4));
    await onnx.dispose();
    probabilities.dispose();
    model.dispose();
    const job = await readJob(temp.store, prepared.layout.record);
    expect(job).toMatchObject({ status: 'done', published: { folderUrl: folder, pointerUrl: models.latest } });
    expect(ofType(EVENT_TYPES.modelAggregated)).toEqual([
      expect.objectContaining({ final: true, modelUrl: folder, testAccuracy: metadata.testAccuracy }),
    ]);
    expect(ofType(EVENT_TYPES.shardReady)).toEqual([]);
    const status = await fetch(`${server.base}/jobs/job-final`);
    expect(status.status).toBe(200);
    expect((await status.json()) as JobSummary).toMatchObject({
      jobId: 'job-final',
      status: 'done',
      rounds: 1,
      results: [{ round: 1, participants: [0, 1] }],
    });
  });

  it('refuses to publish a model with a layer ONNX cannot express, naming it, and writes nothing', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-odd', {
      shards: 1,
      perShard: 5,
      test: 5,
      config: { rounds: 1 },
    });
    const odd = tf.sequential({
      layers: [
        tf.layers.conv1d({ name: 'odd_conv', inputShape: [8, 1], filters: 2, kernelSize: 3 }),
        tf.layers.flatten(),
      ],
    });
    const result = {
      round: 1,
      participants: [0],
      examples: 5,
      testAccuracy: 0.5,
      testLoss: 1,
      finishedAt: new Date(0).toISOString(),
    };
    await expect(publishModel({ store: temp.store }, prepared.job, prepared.layout, odd, result)).rejects.toThrow(
      /"odd_conv" \(Conv1D\)/,
    );
    const models = modelsLayout(temp.root, prepared.job.serving.name);
    const latest = await temp.store.read(models.latest).then(
      (b) => new TextDecoder().decode(b),
      () => '',
    );
    expect(latest).not.toContain('job-odd');
    await expect(temp.store.read(`${models.version('job-odd')}model.json`)).rejects.toThrow();
    odd.dispose();
  });

  it.each([
    {
      name: 'weights outside the job layout',
      change: (d: ShardTrained) => ({ ...d, weightsUrl: d.weightsUrl.replace('/shards/0/', '/shards/1/') }),
      error: /weightsUrl/,
    },
    {
      name: 'an unknown job',
      change: (d: ShardTrained) => ({
        ...d,
        jobId: 'job-nope',
        weightsUrl: d.weightsUrl.replace('job-bad', 'job-nope'),
      }),
      error: /no job job-nope/,
    },
    { name: 'a wrong shard count', change: (d: ShardTrained) => ({ ...d, shards: 5 }), error: /data\.shards/ },
  ])('refuses $name with 400', async ({ change, error }) => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-bad', { shards: 2, perShard: 5, test: 5 });
    const server = await aggregator();
    const res = await arrive(server.base, change(await shardResult(prepared, 1, 0, 1, 5)), 'bad');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(error);
    expect(await temp.store.list(prepared.layout.arrivals(1))).toEqual([]);
  });
});

describe('dead letters and job status', () => {
  async function deadLetter(
    base: string,
    type: string,
    data: unknown,
    id: string,
  ): Promise<{ status: number; body: unknown }> {
    const message = toHttpMessage(
      createEvent(EVENT_TYPES.jobFailed, { jobId: 'x', reason: 'x' }, { source: '/kaskade/test', id }),
    );
    const headers = {
      ...message.headers,
      'ce-type': type,
      'ce-knativeerrordest': 'http://shard-trainer.kaskade.svc',
      'ce-knativeerrorcode': '500',
      'ce-knativeerrordata': Buffer.from('out of memory').toString('base64'),
    };
    const res = await fetch(`${base}/dead-letter`, { method: 'POST', headers, body: JSON.stringify(data) });
    return { status: res.status, body: await res.json() };
  }

  it('fails the job of an undeliverable shard.ready and emits job.failed', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-dead', { shards: 2, perShard: 5, test: 5 });
    const server = await aggregator();
    const res = await deadLetter(server.base, EVENT_TYPES.shardReady, prepared.ready[1], 'job-dead.r1.s1.ready');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'failed', jobId: 'job-dead', status: 'failed' });
    const job: JobRecord = await readJob(temp.store, prepared.layout.record);
    expect(job.failure).toMatchObject({ stage: 'train', round: 1 });
    expect(job.failure?.reason).toMatch(/HTTP 500.*out of memory/);
    expect(ofType(EVENT_TYPES.jobFailed)).toEqual([
      expect.objectContaining({ jobId: 'job-dead', stage: 'train', round: 1 }),
    ]);
    const status = (await (await fetch(`${server.base}/jobs/job-dead`)).json()) as JobSummary;
    expect(status).toMatchObject({ status: 'failed', failure: { stage: 'train' } });
    // A result arriving for a failed job is ignored.
    const late = await arrive(server.base, await shardResult(prepared, 1, 0, 1, 5));
    expect(late.body).toMatchObject({ recorded: false, round: { outcome: 'ignored', status: 'failed' } });
  });

  it('lets a quorum job skip an undeliverable shard instead of failing', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-skip', {
      shards: 2,
      perShard: 5,
      test: 5,
      config: { quorum: 0.5, roundTimeoutSeconds: 1 },
    });
    const server = await aggregator({ maxHoldMs: 0 }); // no request waits for the deadline
    expect((await arrive(server.base, await shardResult(prepared, 1, 0, 1, 5))).body.round).toMatchObject({
      outcome: 'waiting',
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const res = await deadLetter(server.base, EVENT_TYPES.shardReady, prepared.ready[1], 'job-skip.r1.s1.ready');
    expect(res.body).toMatchObject({
      outcome: 'skipped-shard',
      round: { outcome: 'aggregated', aggregation: { participants: [0] } },
    });
    expect((await readJob(temp.store, prepared.layout.record)).status).toBe('running');
  });

  it.each([
    {
      name: 'a malformed training request names its derived job',
      type: EVENT_TYPES.trainingRequested,
      data: { shards: 'many' },
      expected: { outcome: 'failed', jobId: deriveJobId('/kaskade/test', 'req-x'), status: 'unknown' },
      failed: 1,
    },
    {
      name: 'an undeliverable model.aggregated fails nothing',
      type: EVENT_TYPES.modelAggregated,
      data: { jobId: 'job-x' },
      expected: { outcome: 'ignored', jobId: 'job-x' },
      failed: 0,
    },
    {
      name: 'an event naming no job',
      type: EVENT_TYPES.shardTrained,
      data: { nothing: true },
      expected: { outcome: 'ignored', jobId: null },
      failed: 0,
    },
  ])('$name', async ({ type, data, expected, failed }) => {
    const server = await aggregator();
    const res = await deadLetter(server.base, type, data, 'req-x');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject(expected);
    expect(ofType(EVENT_TYPES.jobFailed)).toHaveLength(failed);
  });

  it('answers 404 for an unknown job and 400 for a bad id', async () => {
    const server = await aggregator();
    expect((await fetch(`${server.base}/jobs/job-unknown`)).status).toBe(404);
    expect((await fetch(`${server.base}/jobs/${encodeURIComponent('a b')}`)).status).toBe(400);
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
  });
});

describe('loadConfig', () => {
  it.each([
    {
      name: 'defaults',
      env: { KASKADE_BROKER_URL: 'http://b', KASKADE_STORAGE_ROOTS: 'file:///data' },
      expected: { roots: ['file:///data'], leaseMs: 600_000, maxHoldMs: 240_000, evalBatchSize: 512 },
    },
    {
      name: 'from env',
      env: {
        KASKADE_BROKER_URL: 'http://b',
        KASKADE_STORAGE_ROOTS: 'file:///data',
        KASKADE_AGGREGATION_LEASE_S: '30',
        KASKADE_ROUND_HOLD_S: '0',
        KASKADE_EVAL_BATCH: '128',
      },
      expected: { roots: ['file:///data'], leaseMs: 30_000, maxHoldMs: 0, evalBatchSize: 128 },
    },
  ])('$name', ({ env, expected }) => {
    expect(loadConfig(env).settings).toEqual(expected);
  });
});

describe('forged and premature arrivals', () => {
  const forged = (prepared: PreparedJob, k: number, exampleCount = 10): ShardTrained => ({
    jobId: prepared.job.jobId,
    round: 1,
    shardIndex: k,
    shards: prepared.job.config.shards,
    weightsUrl: prepared.layout.shardWeights(1, k),
    exampleCount,
    metrics: { loss: 0, accuracy: 1, samplesPerSec: 1 },
  });

  it('refuses a shard.trained whose weights do not exist yet, records nothing, and the genuine results then close the round', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-premature', {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    const served = await aggregator();
    for (const k of [0, 1]) {
      const answer = await postTrained(served.base, forged(prepared, k), `forged-${k}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/does not exist/);
    }
    expect(await arrivedShards(temp.store, prepared.layout, 1)).toEqual([]);
    expect(await readRoundState(temp.store, prepared.layout, 1)).toBeUndefined();
    const [r0, r1] = [await shardResult(prepared, 1, 0, 1, 10), await shardResult(prepared, 1, 1, 2, 10)];
    expect((await arrive(served.base, r0)).body).toMatchObject({ recorded: true, round: { outcome: 'waiting' } });
    expect((await arrive(served.base, r1)).body).toMatchObject({
      recorded: true,
      round: { outcome: 'aggregated', aggregation: { participants: [0, 1] } },
    });
  });

  it('refuses an arrival that does not match the result its weights carry', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-mismatch', {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    const served = await aggregator();
    const r0 = await shardResult(prepared, 1, 0, 1, 10);
    const inflated = await postTrained(served.base, forged(prepared, 0, 1_000_000), 'forged-count');
    expect(inflated.status).toBe(400);
    expect(inflated.body.error).toMatch(/exampleCount/);
    // Weights without the trainer's result in their metadata are no shard result either.
    await temp.store.write(prepared.layout.shardWeights(1, 1), await temp.store.read(prepared.layout.roundModel(0)));
    const bare = await postTrained(served.base, forged(prepared, 1), 'forged-bare');
    expect(bare.status).toBe(400);
    expect(bare.body.error).toMatch(/no shardTrained metadata/);
    expect(await arrivedShards(temp.store, prepared.layout, 1)).toEqual([]);
    expect((await arrive(served.base, r0)).body).toMatchObject({
      recorded: true,
      round: { outcome: 'waiting', arrived: [0] },
    });
  });

  it('gives a round back at once when its aggregation fails: the next delivery aggregates, without waiting out the lease', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-release', {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    let failures = 1;
    const base = temp.store;
    const flaky: Store = {
      read: (url, options) => {
        if (url === prepared.layout.testSet && failures > 0) {
          failures -= 1;
          return Promise.reject(new UnavailableError(`${url}: 503 from storage`));
        }
        return base.read(url, options);
      },
      write: (url, data, options) => base.write(url, data, options),
      exists: (url) => base.exists(url),
      list: (prefix) => base.list(prefix),
      delete: (url) => base.delete(url),
      swapPointer: (url, expected, next) => base.swapPointer(url, expected, next),
      modelHandler: (folder) => base.modelHandler(folder),
    };
    const served = await aggregator({ leaseMs: 600_000 }, flaky);
    const [r0, r1] = [await shardResult(prepared, 1, 0, 1, 10), await shardResult(prepared, 1, 1, 2, 10)];
    expect((await arrive(served.base, r0)).body.round.outcome).toBe('waiting');
    expect((await arrive(served.base, r1)).status).toBe(503);
    expect((await readRoundState(temp.store, prepared.layout, 1))?.state.state).toBe('open');
    // Another event (the other shard's redelivery), not the claimant's: it aggregates now.
    expect((await arrive(served.base, r0, 'redelivered-0')).body).toMatchObject({
      recorded: false,
      round: { outcome: 'aggregated', aggregation: { participants: [0, 1] } },
    });
    expect(ofType(EVENT_TYPES.modelAggregated)).toHaveLength(1);
  });

  it('never lets an arrival whose weights are gone lock out the genuine result of its shard', async () => {
    const prepared = await prepareJob(tf, temp.store, temp.root, 'job-lockout', {
      shards: 2,
      perShard: 10,
      test: 20,
      config: { rounds: 2 },
    });
    // Recorded by an earlier aggregator that did not check: shard 1's weights never existed.
    await recordArrival(temp.store, prepared.layout, 1, {
      shardIndex: 1,
      exampleCount: 10,
      weightsUrl: prepared.layout.shardWeights(1, 1),
      metrics: { loss: 0, accuracy: 1, samplesPerSec: 1 },
      event: { source: '/forged', id: 'forged-1' },
      arrivedAt: new Date().toISOString(),
    });
    const served = await aggregator({ leaseMs: 600_000 });
    const r0 = await shardResult(prepared, 1, 0, 1, 10);
    expect((await arrive(served.base, r0)).status).toBeGreaterThanOrEqual(400);
    expect(await arrivedShards(temp.store, prepared.layout, 1)).toEqual([0]);
    expect((await readRoundState(temp.store, prepared.layout, 1))?.state.state).toBe('open');
    const r1 = await shardResult(prepared, 1, 1, 2, 10);
    expect((await arrive(served.base, r1)).body).toMatchObject({
      recorded: true,
      round: { outcome: 'aggregated', aggregation: { participants: [0, 1] } },
    });
  });
});
