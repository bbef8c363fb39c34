// System tier: the broker, subscribers and dead-letter sinks are real HTTP servers on loopback.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/_shared/errors.js';
import type { Logger } from '../../functions/_shared/log.js';
import { startBroker, type LocalBroker, type StartBrokerOptions } from './broker.js';
import type { TriggerSpec } from './spec.js';
import { startSubscriber, type Answer, type Received, type Subscriber } from '../../test/fakes/subscriber.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function subscriber(respond?: (r: Received, i: number) => Answer): Promise<Subscriber> {
  const s = await startSubscriber(respond);
  cleanups.push(() => s.close());
  return s;
}

async function broker(triggers: TriggerSpec[], options: Partial<StartBrokerOptions> = {}): Promise<LocalBroker> {
  const b = await startBroker({
    namespace: 'kaskade',
    brokers: [{ name: 'default' }],
    triggers,
    logger: quiet,
    ...options,
  });
  cleanups.push(() => b.close());
  return b;
}

let counter = 0;
function binaryHeaders(type = 'dev.kaskade.test.sent', extra: Record<string, string> = {}): Record<string, string> {
  counter++;
  return {
    'ce-specversion': '1.0',
    'ce-id': `e-${counter}`,
    'ce-source': '/kaskade/test',
    'ce-type': type,
    'content-type': 'application/json',
    ...extra,
  };
}

async function post(
  url: string,
  headers: Record<string, string>,
  body: string | Uint8Array = '{"n":1}',
): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
}

/** A clock for the waits between attempts: records each wait and lets it pass at once. */
function recordedWaits(): { waits: number[]; wait: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, wait: (ms) => (waits.push(ms), Promise.resolve()) };
}

describe('delivery and retries', () => {
  it.each([
    { name: 'linear', backoffPolicy: 'linear' as const, backoffDelay: 'PT0.2S', retry: 3, expected: [200, 400, 600] },
    {
      name: 'exponential',
      backoffPolicy: 'exponential' as const,
      backoffDelay: 'PT0.1S',
      retry: 2,
      expected: [200, 400],
    },
  ])(
    'a subscriber failing with 500 gets retry + 1 attempts spaced $name, then one dead letter',
    async ({ backoffPolicy, backoffDelay, retry, expected }) => {
      const failing = await subscriber(() => ({ status: 500, body: 'model store down' }));
      const dls = await subscriber();
      const clock = recordedWaits();
      const b = await broker(
        [
          {
            name: 'trainer',
            broker: 'default',
            subscriberUri: failing.url,
            delivery: { retry, backoffPolicy, backoffDelay, deadLetterSink: { uri: dls.url } },
          },
        ],
        { wait: clock.wait },
      );
      const headers = binaryHeaders();
      expect((await post(b.url('kaskade', 'default'), headers)).status).toBe(202);

      const [dead] = await dls.waitFor(1);
      await b.idle();
      expect(failing.received).toHaveLength(retry + 1);
      expect(dls.received).toHaveLength(1);
      expect(clock.waits).toEqual(expected);
      expect(dead?.headers['ce-id']).toBe(headers['ce-id']);
      expect(dead?.headers['ce-knativeerrordest']).toBe(failing.url);
      expect(dead?.headers['ce-knativeerrorcode']).toBe('500');
      expect(Buffer.from(String(dead?.headers['ce-knativeerrordata']), 'base64').toString()).toBe('model store down');
      expect(dead?.body.toString()).toBe('{"n":1}');
      expect(b.stats()).toMatchObject({ attempts: retry + 2, retries: retry, deadLettered: 1, pending: 0 });
    },
  );

  it.each([
    { name: '400 is final', status: 400, attempts: 1 },
    { name: '401 is final', status: 401, attempts: 1 },
    { name: '403 is final', status: 403, attempts: 1 },
    { name: '413 is final', status: 413, attempts: 1 },
    { name: '422 is final', status: 422, attempts: 1 },
    { name: '404 is retried', status: 404, attempts: 3 },
    { name: '409 is retried', status: 409, attempts: 3 },
    { name: '429 is retried', status: 429, attempts: 3 },
    { name: '500 is retried', status: 500, attempts: 3 },
    { name: '503 is retried', status: 503, attempts: 3 },
  ])('$name', async ({ status, attempts }) => {
    const sub = await subscriber(() => ({ status }));
    const dls = await subscriber();
    const b = await broker([
      {
        name: 't',
        broker: 'default',
        subscriberUri: sub.url,
        delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.01S', deadLetterSink: { uri: dls.url } },
      },
    ]);
    await post(b.url('kaskade', 'default'), binaryHeaders());
    const [dead] = await dls.waitFor(1);
    await b.idle();
    expect(sub.received).toHaveLength(attempts);
    expect(dead?.headers['ce-knativeerrorcode']).toBe(String(status));
  });

  it('without a dead-letter sink a failed event is dropped and counted', async () => {
    const sub = await subscriber(() => ({ status: 400 }));
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url, delivery: { retry: 3 } }]);
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await sub.waitFor(1);
    await b.idle();
    expect(sub.received).toHaveLength(1);
    expect(b.stats()).toMatchObject({ dropped: 1, pending: 0 });
  });

  it('honours Retry-After on 429, capped at retryAfterMax', async () => {
    const sub = await subscriber((_, i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '5' } } : { status: 202 },
    );
    const clock = recordedWaits();
    const b = await broker(
      [
        {
          name: 't',
          broker: 'default',
          subscriberUri: sub.url,
          delivery: { retry: 1, backoffPolicy: 'linear', backoffDelay: 'PT0.01S', retryAfterMax: 'PT0.3S' },
        },
      ],
      { wait: clock.wait },
    );
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await sub.waitFor(2);
    expect(clock.waits).toEqual([300]);
  });

  it('a slow attempt times out per the delivery timeout and is retried, then dead-lettered without a code', async () => {
    // The subscriber would answer 200 long after the test's wait for a dead letter gives up.
    const sub = await subscriber(() => ({ status: 200, delayMs: 60_000 }));
    const dls = await subscriber();
    const b = await broker(
      [
        {
          name: 't',
          broker: 'default',
          subscriberUri: sub.url,
          delivery: { retry: 1, backoffDelay: 'PT0.01S', timeout: 'PT0.1S', deadLetterSink: { uri: dls.url } },
        },
      ],
      { drainTimeoutMs: 100 },
    );
    await post(b.url('kaskade', 'default'), binaryHeaders());
    const [dead] = await dls.waitFor(1);
    expect(sub.received).toHaveLength(2);
    expect(dead?.headers['ce-knativeerrorcode']).toBeUndefined();
    expect(Buffer.from(String(dead?.headers['ce-knativeerrordata']), 'base64').toString()).toMatch(
      /no answer within 100 ms/,
    );
  });

  it('trigger delivery overrides the broker delivery field by field', async () => {
    const sub = await subscriber(() => ({ status: 500 }));
    const dls = await subscriber();
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url, delivery: { retry: 1 } }], {
      brokers: [
        {
          name: 'default',
          delivery: { retry: 5, backoffPolicy: 'linear', backoffDelay: 'PT0.01S', deadLetterSink: { uri: dls.url } },
        },
      ],
    });
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await dls.waitFor(1);
    expect(sub.received).toHaveLength(2);
  });

  it('a slow subscriber does not hold up another trigger', async () => {
    // The slow subscriber answers long after the test's wait for the fast one gives up.
    const slow = await subscriber(() => ({ status: 200, delayMs: 60_000 }));
    const fast = await subscriber();
    const b = await broker(
      [
        { name: 'slow', broker: 'default', subscriberUri: slow.url },
        { name: 'fast', broker: 'default', subscriberUri: fast.url },
      ],
      { drainTimeoutMs: 100 },
    );
    for (let i = 0; i < 5; i++) await post(b.url('kaskade', 'default'), binaryHeaders());
    // The fast subscriber gets all five while none to the slow one has been answered (waitFor
    // gives up after 10 s, long before the slow answers).
    await fast.waitFor(5);
  });

  it('bounds concurrent deliveries per subscriber', async () => {
    let inFlight = 0;
    let peak = 0;
    const sub = await subscriber(() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => inFlight--, 50);
      return { status: 200, delayMs: 50 };
    });
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url }], {
      maxConcurrencyPerSubscriber: 3,
    });
    await Promise.all(Array.from({ length: 12 }, () => post(b.url('kaskade', 'default'), binaryHeaders())));
    await sub.waitFor(12);
    expect(peak).toBe(3);
  });
});

describe('replies', () => {
  it('a 200 with a binary CloudEvent body re-enters the broker and reaches its own trigger', async () => {
    const replier = await subscriber((r) => ({
      status: 200,
      headers: {
        'ce-specversion': '1.0',
        'ce-id': `reply-to-${String(r.headers['ce-id'])}`,
        'ce-source': '/kaskade/replier',
        'ce-type': 'dev.kaskade.reply.made',
        'content-type': 'application/json',
      },
      body: '{"answer":42}',
    }));
    const sink = await subscriber();
    const b = await broker([
      {
        name: 'ask',
        broker: 'default',
        filter: { attributes: { type: 'dev.kaskade.question.asked' } },
        subscriberUri: replier.url,
      },
      {
        name: 'answers',
        broker: 'default',
        filter: { attributes: { type: 'dev.kaskade.reply.made' } },
        subscriberUri: sink.url,
      },
    ]);
    const headers = binaryHeaders('dev.kaskade.question.asked');
    await post(b.url('kaskade', 'default'), headers);
    const [reply] = await sink.waitFor(1);
    expect(reply?.headers['ce-id']).toBe(`reply-to-${headers['ce-id']}`);
    expect(reply?.body.toString()).toBe('{"answer":42}');
    expect(replier.received).toHaveLength(1);
    expect(b.stats().replies).toBe(1);
  });

  it('a structured-mode reply is accepted too, and a plain 200 body is not a reply', async () => {
    const event = new CloudEvent({
      id: 'r-1',
      source: '/kaskade/replier',
      type: 'dev.kaskade.reply.made',
      data: { ok: true },
    });
    const structured = HTTP.structured(event);
    const replier = await subscriber((r) =>
      r.headers['ce-type'] === 'dev.kaskade.question.asked'
        ? { status: 200, headers: { 'content-type': 'application/cloudevents+json' }, body: String(structured.body) }
        : { status: 200, headers: { 'content-type': 'text/plain' }, body: 'thanks' },
    );
    const sink = await subscriber();
    const b = await broker([
      { name: 'ask', broker: 'default', filters: [{ suffix: { type: '.asked' } }], subscriberUri: replier.url },
      {
        name: 'answers',
        broker: 'default',
        filters: [{ exact: { type: 'dev.kaskade.reply.made' } }],
        subscriberUri: sink.url,
      },
    ]);
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.question.asked'));
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.other.asked'));
    const [reply] = await sink.waitFor(1);
    await b.idle();
    expect(sink.received).toHaveLength(1);
    expect(reply?.headers['ce-id']).toBe('r-1');
    expect(JSON.parse(reply?.body.toString() ?? '')).toEqual({ ok: true });
  });

  it('stops a reply loop when the reply TTL runs out', async () => {
    const echo = await subscriber((r) => ({
      status: 200,
      headers: {
        'ce-specversion': '1.0',
        'ce-id': `${String(r.headers['ce-id'])}+`,
        'ce-source': '/kaskade/echo',
        'ce-type': 'dev.kaskade.echo.sent',
      },
    }));
    const b = await broker([{ name: 'loop', broker: 'default', subscriberUri: echo.url }]);
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.echo.sent'));
    await echo.waitFor(255, 20_000);
    await b.idle();
    expect(echo.received).toHaveLength(255);
    expect(b.stats().pending).toBe(0);
  });
});

describe('ingress', () => {
  it('accepts binary mode and delivers arbitrary bytes intact', async () => {
    const sub = await subscriber();
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url }]);
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7919) % 256);
    const headers = binaryHeaders('dev.kaskade.tensor.sent', {
      'content-type': 'application/vnd.kaskade.safetensors',
      'ce-subject': 'layer 3 "out" 100%',
    });
    const res = await post(
      b.url('kaskade', 'default'),
      { ...headers, 'ce-subject': 'layer%203%20%22out%22%20100%25' },
      bytes,
    );
    expect(res.status).toBe(202);
    const [got] = await sub.waitFor(1);
    expect(got?.headers['content-type']).toBe('application/vnd.kaskade.safetensors');
    expect(got?.headers['ce-subject']).toBe('layer%203%20%22out%22%20100%25');
    expect(got?.headers['ce-knativearrivaltime']).toMatch(/^\d{4}-/);
    expect(Buffer.compare(got?.body ?? Buffer.alloc(0), Buffer.from(bytes))).toBe(0);
  });

  it('accepts structured mode (JSON data and data_base64) and delivers in binary mode', async () => {
    const sub = await subscriber();
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url }]);
    const json = HTTP.structured(
      new CloudEvent({ id: 's-1', source: '/kaskade/test', type: 'dev.kaskade.test.sent', data: { shards: 3 } }),
    );
    const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
    const binary = HTTP.structured(
      new CloudEvent({
        id: 's-2',
        source: '/kaskade/test',
        type: 'dev.kaskade.test.sent',
        datacontenttype: 'application/octet-stream',
        data: bytes,
      }),
    );
    for (const message of [json, binary]) {
      const res = await fetch(b.url('kaskade', 'default'), {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: String(message.body),
      });
      expect(res.status).toBe(202);
    }
    const [first, second] = await sub.waitFor(2);
    expect(first?.headers['ce-id']).toBe('s-1');
    expect(first?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(first?.body.toString() ?? '')).toEqual({ shards: 3 });
    expect(second?.headers['content-type']).toBe('application/octet-stream');
    expect([...(second?.body ?? [])]).toEqual([...bytes]);
  });

  it.each([
    {
      name: 'missing ce-id',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'ce-specversion': '1.0', 'ce-source': '/x', 'ce-type': 't' },
      body: '{}',
      status: 400,
      error: /missing required attribute id/,
    },
    {
      name: 'no CloudEvent at all',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      status: 400,
      error: /not a CloudEvent/,
    },
    {
      name: 'unsupported specversion',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'ce-specversion': '0.3', 'ce-id': '1', 'ce-source': '/x', 'ce-type': 't' },
      body: '',
      status: 400,
      error: /specversion/,
    },
    {
      name: 'bad time',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/x', 'ce-type': 't', 'ce-time': 'yesterday' },
      body: '',
      status: 400,
      error: /RFC 3339/,
    },
    {
      name: 'structured: invalid JSON',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '{"id":',
      status: 400,
      error: /not valid JSON/,
    },
    {
      name: 'structured: missing type',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '{"specversion":"1.0","id":"1","source":"/x"}',
      status: 400,
      error: /missing required attribute type/,
    },
    {
      name: 'structured: batch',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: '[]',
      status: 400,
      error: /batched/,
    },
    {
      name: 'GET',
      method: 'GET',
      path: '/kaskade/default',
      headers: {},
      body: undefined,
      status: 405,
      error: /not allowed/,
    },
    {
      name: 'PUT',
      method: 'PUT',
      path: '/kaskade/default',
      headers: binaryHeaders(),
      body: '{}',
      status: 405,
      error: /not allowed/,
    },
    {
      name: 'unknown broker',
      method: 'POST',
      path: '/kaskade/other',
      headers: binaryHeaders(),
      body: '{}',
      status: 404,
      error: /no broker/,
    },
    {
      name: 'unknown namespace',
      method: 'POST',
      path: '/elsewhere/default',
      headers: binaryHeaders(),
      body: '{}',
      status: 404,
      error: /no broker/,
    },
    {
      name: 'too large',
      method: 'POST',
      path: '/kaskade/default',
      headers: binaryHeaders(),
      body: 'x'.repeat(5000),
      status: 413,
      error: /exceeds/,
    },
    {
      name: 'structured: a 1 MB id, undeliverable as a header',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'i'.repeat(1024 * 1024), source: '/x', type: 't' }),
      status: 400,
      error: /attributes take \d+ bytes as headers, over the 8192-byte limit \(largest: id/,
      maxBodyBytes: 2 * 1024 * 1024,
    },
    {
      name: 'structured: many extension attributes, 9 KiB of headers in all',
      method: 'POST',
      path: '/kaskade/default',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: '1',
        source: '/x',
        type: 't',
        ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`ext${i}`, 'v'.repeat(1000)])),
      }),
      status: 400,
      error: /over the 8192-byte limit/,
      maxBodyBytes: 64 * 1024,
    },
  ] as Array<{
    name: string;
    method: string;
    path: string;
    headers: Record<string, string>;
    body: string | undefined;
    status: number;
    error: RegExp;
    maxBodyBytes?: number;
  }>)('$name → $status', async ({ method, path, headers, body, status, error, maxBodyBytes }) => {
    const sub = await subscriber();
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: sub.url }], {
      maxBodyBytes: maxBodyBytes ?? 4096,
    });
    const res = await fetch(`http://127.0.0.1:${b.port}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    expect(res.status).toBe(status);
    const answer: unknown = await res.json();
    expect(typeof answer === 'object' && answer !== null && 'error' in answer ? String(answer.error) : '').toMatch(
      error,
    );
    if (status === 405) expect(res.headers.get('allow')).toBe('POST');
    expect(sub.received).toHaveLength(0);
  });

  it('routes by trigger filters of every dialect', async () => {
    const exact = await subscriber();
    const prefix = await subscriber();
    const cesql = await subscriber();
    const all = await subscriber();
    const b = await broker([
      {
        name: 'exact',
        broker: 'default',
        filters: [{ exact: { type: 'dev.kaskade.shard.ready' } }],
        subscriberUri: exact.url,
      },
      {
        name: 'prefix',
        broker: 'default',
        filters: [{ prefix: { type: 'dev.kaskade.shard.' } }],
        subscriberUri: prefix.url,
      },
      {
        name: 'cesql',
        broker: 'default',
        filters: [{ cesql: "type LIKE '%.trained' AND EXISTS jobid" }],
        subscriberUri: cesql.url,
      },
      { name: 'all', broker: 'default', subscriberUri: all.url },
    ]);
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.shard.ready'));
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.shard.trained', { 'ce-jobid': 'j1' }));
    await post(b.url('kaskade', 'default'), binaryHeaders('dev.kaskade.shard.trained'));
    await all.waitFor(3);
    await b.idle();
    const types = (s: Subscriber) =>
      s.received.map((r) => `${String(r.headers['ce-type'])}${r.headers['ce-jobid'] ? '+jobid' : ''}`).sort();
    expect(types(exact)).toEqual(['dev.kaskade.shard.ready']);
    expect(types(prefix)).toEqual([
      'dev.kaskade.shard.ready',
      'dev.kaskade.shard.trained',
      'dev.kaskade.shard.trained+jobid',
    ]);
    expect(types(cesql)).toEqual(['dev.kaskade.shard.trained+jobid']);
  });

  it('rejects a trigger with an unsupported cesql expression at load', async () => {
    await expect(
      startBroker({
        namespace: 'kaskade',
        brokers: [{ name: 'default' }],
        triggers: [
          {
            name: 'bad',
            broker: 'default',
            filters: [{ cesql: 'LENGTH(id) > 3' }],
            subscriberUri: 'http://127.0.0.1:1/',
          },
        ],
        logger: quiet,
      }),
    ).rejects.toThrow(/trigger bad: filters\[0\]\.cesql .*function LENGTH\(\) is not supported/);
    await expect(
      startBroker({
        namespace: 'kaskade',
        brokers: [{ name: 'default' }],
        triggers: [
          { name: 'bad', broker: 'default', subscriberUri: 'http://127.0.0.1:1/', delivery: { backoffDelay: '200ms' } },
        ],
        logger: quiet,
      }),
    ).rejects.toThrow(ConfigError);
  });

  it('setTriggers routes new events to the new triggers', async () => {
    const before = await subscriber();
    const after = await subscriber();
    const b = await broker([{ name: 't', broker: 'default', subscriberUri: before.url }]);
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await before.waitFor(1);
    b.setTriggers([{ name: 't', broker: 'default', subscriberUri: after.url }]);
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await after.waitFor(1);
    expect(before.received).toHaveLength(1);
  });

  it('close() waits for an in-flight delivery', async () => {
    const slow = await subscriber(() => ({ status: 200, delayMs: 300 }));
    const b = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: [{ name: 't', broker: 'default', subscriberUri: slow.url }],
      logger: quiet,
    });
    await post(b.url('kaskade', 'default'), binaryHeaders());
    await slow.waitFor(1);
    await b.close();
    expect(b.stats()).toMatchObject({ delivered: 1, pending: 0, inFlight: 0, attempts: 1 });
  });
});

describe('journal', () => {
  async function stateDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kaskade-broker-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('an accepted but undelivered event is delivered after a restart; a delivered one is not', async () => {
    const dir = await stateDir();
    const down = await subscriber(() => ({ status: 503 }));
    const delivery = { retry: 100, backoffPolicy: 'linear' as const, backoffDelay: 'PT10S' };
    const triggers = (uri: string): TriggerSpec[] => [
      {
        name: 'trainer',
        broker: 'default',
        filters: [{ exact: { type: 'dev.kaskade.shard.ready' } }],
        subscriberUri: uri,
        delivery,
      },
      {
        name: 'audit',
        broker: 'default',
        filters: [{ exact: { type: 'dev.kaskade.audit.logged' } }],
        subscriberUri: uri,
      },
    ];
    const first = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: triggers(down.url),
      stateDir: dir,
      logger: quiet,
      drainTimeoutMs: 200,
    });
    const stuck = binaryHeaders('dev.kaskade.shard.ready');
    await post(first.url('kaskade', 'default'), stuck, Uint8Array.from([1, 2, 3, 0, 255]));
    await down.waitFor(1);
    expect(first.stats().journalBytes).toBeGreaterThan(0);
    await first.close();

    const up = await subscriber();
    const second = await broker(triggers(up.url), { stateDir: dir });
    const [got] = await up.waitFor(1);
    expect(got?.headers['ce-id']).toBe(stuck['ce-id']);
    expect([...(got?.body ?? [])]).toEqual([1, 2, 3, 0, 255]);
    expect(second.stats().replayed).toBe(1);
    await second.idle();
    expect(second.stats().pending).toBe(0);
    expect((await stat(join(dir, 'broker-kaskade.journal'))).size).toBe(0); // compacted: nothing pending

    await second.close();
    const third = await broker(triggers(up.url), { stateDir: dir });
    await third.idle();
    expect(up.received).toHaveLength(1);
    expect(third.stats().replayed).toBe(0);
  });

  it('replayed events wait for the triggers when the broker starts without them (as the runtime starts it)', async () => {
    const dir = await stateDir();
    const down = await subscriber(() => ({ status: 503 }));
    const triggers = (uri: string): TriggerSpec[] => [
      { name: 'trainer', broker: 'default', subscriberUri: uri, delivery: { retry: 100, backoffDelay: 'PT10S' } },
    ];
    const first = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: triggers(down.url),
      stateDir: dir,
      logger: quiet,
      drainTimeoutMs: 100,
    });
    await post(first.url('kaskade', 'default'), binaryHeaders());
    await down.waitFor(1);
    await first.close();

    const up = await subscriber();
    const second = await broker([], { stateDir: dir });
    expect(second.stats()).toMatchObject({ replayed: 1, pending: 1 });
    second.setTriggers(triggers(up.url));
    await up.waitFor(1);
    await second.idle();
    expect(second.stats().pending).toBe(0);
  });
});
