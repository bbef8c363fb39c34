// Integration tier: events emitted by `httpEmit` travel through a real local broker to a
// subscriber (an HTTP server), and through a Functions Framework server to `eventHandler`.
import { once } from 'node:events';
import http from 'node:http';
import { http as registerHttp } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { CloudEvent } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import { BadInputError, ConfigError, TimeoutError, UnavailableError } from '../functions/_shared/errors.js';
import type { Logger } from '../functions/_shared/log.js';
import { startBroker } from './broker/index.js';
import { startSubscriber, type Received } from '../test/fakes/subscriber.js';
import { EVENT_TYPES, SAFETENSORS_CONTENT_TYPE, type ShardTrained } from './catalog.js';
import { createBinaryEvent, createEvent, httpEmit, loadEmitConfig, memoryEmit, sourceFor, type Mode } from './emit.js';
import { memoryIdempotency } from './idempotency.js';
import { eventHandler, parseEvent, receiveEvent, type Reply } from './receive.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const trained: ShardTrained = {
  jobId: 'job-9',
  round: 2,
  shardIndex: 1,
  shards: 2,
  weightsUrl: 'file:///var/kaskade/jobs/job-9/rounds/2/shard-1.safetensors',
  exampleCount: 30_000,
  metrics: { loss: 0.1, accuracy: 0.97, samplesPerSec: 1050.5 },
};

async function brokerWithSubscriber() {
  const subscriber = await startSubscriber();
  const broker = await startBroker({
    namespace: 'kaskade',
    brokers: [{ name: 'default' }],
    triggers: [{ name: 'all', broker: 'default', subscriberUri: subscriber.url }],
    logger: quiet,
  });
  cleanups.push(
    () => subscriber.close(),
    () => broker.close(),
  );
  return { subscriber, sink: broker.url('kaskade', 'default') };
}

function portOf(server: http.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function asMessage(r: Received | undefined) {
  return { headers: r?.headers ?? {}, rawBody: r?.body };
}

describe('emit → broker → receive', () => {
  it.each<{ name: string; mode: Mode }>([
    { name: 'binary mode', mode: 'binary' },
    { name: 'structured mode', mode: 'structured' },
  ])('a catalog event arrives validated and typed ($name)', async ({ mode }) => {
    const { subscriber, sink } = await brokerWithSubscriber();
    const event = createEvent(EVENT_TYPES.shardTrained, trained, {
      source: sourceFor('shard-trainer'),
      id: 'job-9/2/1',
      subject: 'job-9',
    });
    await httpEmit({ sinkUrl: sink, mode })(event);
    const [got] = await subscriber.waitFor(1);
    expect(got?.headers['ce-source']).toBe('/kaskade/shard-trainer');
    const received = receiveEvent(asMessage(got), [EVENT_TYPES.shardTrained]);
    expect(received.type).toBe(EVENT_TYPES.shardTrained);
    expect(received.data).toEqual(trained);
    expect(received.data.metrics.samplesPerSec).toBe(1050.5);
    expect(received.event.id).toBe('job-9/2/1');
    expect(received.event.subject).toBe('job-9');
  });

  it('binary data (tensors) arrives byte for byte as the raw body, never as JSON', async () => {
    const { subscriber, sink } = await brokerWithSubscriber();
    const bytes = Uint8Array.from({ length: 4099 }, (_, i) => (i * 31 + 7) % 256);
    await httpEmit({ sinkUrl: sink })(
      createBinaryEvent('dev.kaskade.activation.computed', bytes, { source: sourceFor('split-half') }),
    );
    const [got] = await subscriber.waitFor(1);
    expect(got?.headers['content-type']).toBe(SAFETENSORS_CONTENT_TYPE);
    expect(got?.body.byteLength).toBe(4099);
    const event = parseEvent(asMessage(got));
    expect(event.data).toBeInstanceOf(Uint8Array);
    expect(event.data instanceof Uint8Array ? [...event.data] : []).toEqual([...bytes]);
  });

  it('attribute values outside printable ASCII survive the trip (percent-encoded headers)', async () => {
    const { subscriber, sink } = await brokerWithSubscriber();
    await httpEmit({ sinkUrl: sink })(
      createEvent(
        EVENT_TYPES.jobFailed,
        { jobId: 'j', reason: 'x' },
        { source: sourceFor('aggregator'), subject: 'Übung 50% "done"' },
      ),
    );
    const [got] = await subscriber.waitFor(1);
    expect(parseEvent(asMessage(got)).subject).toBe('Übung 50% "done"');
  });

  it('a non-2xx answer fails the emit with the status', async () => {
    const { sink } = await brokerWithSubscriber();
    const emit = httpEmit({ sinkUrl: sink.replace('/default', '/missing') });
    const event = createEvent(EVENT_TYPES.jobFailed, { jobId: 'j', reason: 'r' }, { source: sourceFor('test') });
    await expect(emit(event)).rejects.toThrow(UnavailableError);
    await expect(emit(event)).rejects.toThrow(/answered 404/);
  });

  it('a sink that never answers fails the emit after its timeout', async () => {
    const server = http.createServer(() => undefined);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = portOf(server);
    const event = createEvent(EVENT_TYPES.jobFailed, { jobId: 'j', reason: 'r' }, { source: sourceFor('test') });
    await expect(httpEmit({ sinkUrl: `http://127.0.0.1:${port}/`, timeoutMs: 200 })(event)).rejects.toThrow(
      TimeoutError,
    );
  });

  it('createEvent refuses data that does not fit the catalog', () => {
    expect(() =>
      createEvent(EVENT_TYPES.shardTrained, { ...trained, shardIndex: 5 }, { source: sourceFor('t') }),
    ).toThrow(/data\.shardIndex/);
  });

  it('memoryEmit keeps events in order', async () => {
    const { emit, events } = memoryEmit();
    await emit(
      createEvent(EVENT_TYPES.jobFailed, { jobId: 'a', reason: 'r' }, { source: sourceFor('t'), id: 'first' }),
    );
    await emit(
      createEvent(EVENT_TYPES.jobFailed, { jobId: 'b', reason: 'r' }, { source: sourceFor('t'), id: 'second' }),
    );
    expect(events.map((e) => e.id)).toEqual(['first', 'second']);
  });
});

describe('loadEmitConfig', () => {
  it.each([
    { name: 'K_SINK wins', env: { K_SINK: 'http://sink/', KASKADE_BROKER_URL: 'http://broker/' }, url: 'http://sink/' },
    {
      name: 'broker URL as fallback',
      env: { KASKADE_BROKER_URL: 'http://127.0.0.1:8080/kaskade/default' },
      url: 'http://127.0.0.1:8080/kaskade/default',
    },
    { name: 'empty K_SINK ignored', env: { K_SINK: '', KASKADE_BROKER_URL: 'http://broker/' }, url: 'http://broker/' },
  ])('$name', ({ env, url }) => {
    expect(loadEmitConfig(env)).toEqual({ sinkUrl: url, timeoutMs: 10_000, mode: 'binary' });
  });

  it.each([
    { name: 'no sink at all', env: {}, message: /K_SINK or KASKADE_BROKER_URL is required/ },
    { name: 'not http', env: { K_SINK: 'gs://bucket' }, message: /http\(s\) URL/ },
    {
      name: 'bad timeout',
      env: { K_SINK: 'http://s/', KASKADE_EMIT_TIMEOUT_MS: 'soon' },
      message: /KASKADE_EMIT_TIMEOUT_MS/,
    },
    { name: 'bad mode', env: { K_SINK: 'http://s/', KASKADE_EMIT_MODE: 'batch' }, message: /KASKADE_EMIT_MODE/ },
  ])('rejects $name', ({ env, message }) => {
    expect(() => loadEmitConfig(env)).toThrow(ConfigError);
    expect(() => loadEmitConfig(env)).toThrow(message);
  });
});

describe('receiveEvent rejects', () => {
  const base = {
    'ce-specversion': '1.0',
    'ce-id': '1',
    'ce-source': '/kaskade/test',
    'ce-type': EVENT_TYPES.shardTrained,
    'content-type': 'application/json',
  };
  it.each([
    {
      name: 'a type the function does not take',
      headers: { ...base, 'ce-type': EVENT_TYPES.jobFailed },
      body: '{}',
      message: /unexpected event type/,
    },
    {
      name: 'data that breaks the schema',
      headers: base,
      body: JSON.stringify({ ...trained, exampleCount: -1 }),
      message: /data\.exampleCount/,
    },
    { name: 'a body that is not JSON', headers: base, body: '{oops', message: /not valid JSON/ },
    {
      name: 'a missing source',
      headers: { ...base, 'ce-source': '' },
      body: '{}',
      message: /missing required attribute source/,
    },
    { name: 'no CloudEvent', headers: { 'content-type': 'application/json' }, body: '{}', message: /not a CloudEvent/ },
  ])('$name with BadInputError', ({ headers, body, message }) => {
    const call = () => receiveEvent({ headers, rawBody: Buffer.from(body) }, [EVENT_TYPES.shardTrained]);
    expect(call).toThrow(BadInputError);
    expect(call).toThrow(message);
  });
});

describe('eventHandler behind the Functions Framework', () => {
  async function serve(name: string, handle: (data: ShardTrained) => Reply) {
    let runs = 0;
    registerHttp(
      name,
      eventHandler({
        types: [EVENT_TYPES.shardTrained],
        idempotency: memoryIdempotency<Reply>(),
        handle: async ({ data }) => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return handle(data);
        },
        logger: quiet,
      }),
    );
    const server = getTestServer(name);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = portOf(server);
    return { url: `http://127.0.0.1:${port}/`, runs: () => runs };
  }

  const headers = (id: string) => ({
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-source': '/kaskade/shard-trainer',
    'ce-type': EVENT_TYPES.shardTrained,
    'content-type': 'application/json',
  });

  it('runs once for concurrent and later duplicates; 204 without a reply', async () => {
    const fn = await serve('aggregate-once', () => undefined);
    const send = () => fetch(fn.url, { method: 'POST', headers: headers('dup-1'), body: JSON.stringify(trained) });
    const answers = await Promise.all([send(), send(), send()]);
    const later = await send();
    expect([...answers, later].map((r) => r.status)).toEqual([204, 204, 204, 204]);
    expect(fn.runs()).toBe(1);
  });

  it('answers a reply event in binary mode with 200', async () => {
    const fn = await serve('aggregate-reply', (data) =>
      createEvent(
        EVENT_TYPES.jobFailed,
        { jobId: data.jobId, reason: 'test reply' },
        { source: sourceFor('aggregator'), id: `${data.jobId}/failed` },
      ),
    );
    const res = await fetch(fn.url, { method: 'POST', headers: headers('r-1'), body: JSON.stringify(trained) });
    expect(res.status).toBe(200);
    expect(res.headers.get('ce-type')).toBe(EVENT_TYPES.jobFailed);
    expect(res.headers.get('ce-id')).toBe('job-9/failed');
    expect(await res.json()).toEqual({ jobId: 'job-9', reason: 'test reply' });
  });

  it('answers 400 with {"error"} for a malformed event and does not run the handler', async () => {
    const fn = await serve('aggregate-bad', () => undefined);
    const res = await fetch(fn.url, {
      method: 'POST',
      headers: headers('b-1'),
      body: JSON.stringify({ ...trained, round: 0 }),
    });
    expect(res.status).toBe(400);
    const body: unknown = await res.json();
    expect(body).toMatchObject({ code: 'bad_input' });
    expect(JSON.stringify(body)).toMatch(/data\.round/);
    expect(fn.runs()).toBe(0);
  });

  it('an SDK CloudEvent built elsewhere is accepted as a reply too', async () => {
    const fn = await serve(
      'aggregate-sdk',
      () =>
        new CloudEvent<unknown>({
          id: 'x',
          source: '/kaskade/aggregator',
          type: 'dev.kaskade.note.written',
          data: 'plain text',
          datacontenttype: 'text/plain',
        }),
    );
    const res = await fetch(fn.url, { method: 'POST', headers: headers('s-1'), body: JSON.stringify(trained) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('plain text');
  });
});
