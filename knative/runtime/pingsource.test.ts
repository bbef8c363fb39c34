// PingSources: schedule parsing, the event they send, and real firing into an HTTP sink, both
// on their own and from a manifest through startRuntime.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../functions/_shared/errors.js';
import type { Logger } from '../../functions/_shared/log.js';
import type { PingSourceManifest } from './manifests.js';
import { PING_EVENT_TYPE, parseSchedule, pingEvent, startPingSources } from './pingsource.js';
import { startRuntime } from './runtime.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function source(over: Partial<PingSourceManifest>): PingSourceManifest {
  return {
    origin: 'test.yaml#0',
    namespace: 'ns',
    name: 'p',
    schedule: '* * * * * *',
    data: Buffer.from('{"a":1}'),
    contentType: 'application/json',
    sink: { kind: 'uri', uri: 'http://x/' },
    suspended: false,
    ...over,
  };
}

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let sink: Server;
let base = '';
const received: Received[] = [];
const arrivals = new Set<() => void>();

/** Resolves once the sink has received `count` requests on `path`. */
function arrived(path: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (received.filter((r) => r.path === path).length < count) return;
      arrivals.delete(check);
      resolve();
    };
    arrivals.add(check);
    check();
  });
}

beforeAll(async () => {
  sink = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(req.url === '/fail' ? 500 : 202).end();
      for (const check of [...arrivals]) check();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
});

afterAll(async () => {
  sink.closeAllConnections();
  await new Promise<void>((r) => sink.close(() => r()));
});

describe('parseSchedule', () => {
  it.each([
    {
      name: 'plain five fields',
      schedule: '0 3 * * *',
      tz: undefined,
      want: { pattern: '0 3 * * *', timezone: undefined },
    },
    {
      name: 'seconds field',
      schedule: '*/5 * * * * *',
      tz: 'UTC',
      want: { pattern: '*/5 * * * * *', timezone: 'UTC' },
    },
    {
      name: 'CRON_TZ prefix',
      schedule: 'CRON_TZ=Europe/Paris 0 3 * * *',
      tz: undefined,
      want: { pattern: '0 3 * * *', timezone: 'Europe/Paris' },
    },
    {
      name: 'timezone field wins over CRON_TZ',
      schedule: 'CRON_TZ=Europe/Paris 0 3 * * *',
      tz: 'Asia/Seoul',
      want: { pattern: '0 3 * * *', timezone: 'Asia/Seoul' },
    },
  ])('$name', ({ schedule, tz, want }) => {
    expect(parseSchedule(schedule, tz)).toEqual(want);
  });
});

describe('the ping event', () => {
  it.each([
    { name: 'JSON data', over: {}, contentType: 'application/json', body: '{"a":1}' },
    {
      name: 'binary data',
      over: { data: Buffer.from([0, 1, 2]), contentType: 'application/octet-stream' },
      contentType: 'application/octet-stream',
      body: '\u0000\u0001\u0002',
    },
  ])('$name: binary mode with Knative type and source', ({ over, contentType, body }) => {
    const e = pingEvent(source(over));
    expect(e.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': PING_EVENT_TYPE,
      'ce-source': '/apis/v1/namespaces/ns/pingsources/p',
      'content-type': contentType,
    });
    expect(e.headers['ce-id']).toBeTruthy();
    expect(e.body.toString('latin1')).toBe(body);
  });
});

describe('startPingSources', () => {
  it('fires every second into its sink; a suspended source never fires; failures are counted', async () => {
    received.length = 0;
    const pings = startPingSources(
      [
        { source: source({ name: 'live' }), sinkUrl: `${base}/live` },
        { source: source({ name: 'off', suspended: true }), sinkUrl: `${base}/off` },
        { source: source({ name: 'broken' }), sinkUrl: `${base}/fail` },
      ],
      { logger: quiet, timeoutMs: 2_000 },
    );
    // A source never overlaps itself: when its third tick arrives, the first two are counted.
    await Promise.all([arrived('/live', 3), arrived('/fail', 3)]);
    pings.stop();
    const status = pings.status();
    const live = received.filter((r) => r.path === '/live');
    expect(live[0]?.headers['ce-type']).toBe(PING_EVENT_TYPE);
    expect(live[0]?.body).toBe('{"a":1}');
    expect(received.filter((r) => r.path === '/off')).toHaveLength(0);
    expect(status.find((s) => s.name === 'live')).toMatchObject({ failed: 0, next: null });
    expect(status.find((s) => s.name === 'live')?.fired).toBeGreaterThanOrEqual(2);
    expect(status.find((s) => s.name === 'off')).toMatchObject({ fired: 0, next: null, suspended: true });
    expect(status.find((s) => s.name === 'broken')?.failed).toBeGreaterThanOrEqual(2);
  });

  it.each([
    { name: 'a malformed schedule', over: { schedule: 'every day' } },
    { name: 'an unknown timezone', over: { timezone: 'Mars/Olympus' } },
  ])('rejects $name naming the source and field', ({ over }) => {
    expect(() =>
      startPingSources([{ source: source(over), sinkUrl: base }], { logger: quiet, timeoutMs: 1_000 }),
    ).toThrow(ConfigError);
    expect(() =>
      startPingSources([{ source: source(over), sinkUrl: base }], { logger: quiet, timeoutMs: 1_000 }),
    ).toThrow(/test\.yaml#0: PingSource\/p: spec\.schedule/);
  });
});

describe('a PingSource from a manifest', () => {
  it('fires into its sink while the runtime runs, and stops with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaskade-ping-'));
    const manifest = join(dir, 'ping.yaml');
    await writeFile(
      manifest,
      stringify({
        apiVersion: 'sources.knative.dev/v1',
        kind: 'PingSource',
        metadata: { name: 'tick' },
        spec: { schedule: '* * * * * *', data: '{"from":"manifest"}', sink: { uri: `${base}/manifest` } },
      }),
    );
    received.length = 0;
    const runtime = await startRuntime({ manifests: manifest, stateDir: dir, logSink: new PassThrough() });
    await arrived('/manifest', 2);
    expect(runtime.status().pingSources[0]?.fired).toBeGreaterThanOrEqual(1);
    expect(runtime.status().pingSources[0]?.next).not.toBeNull();
    await runtime.close();
    // Stopped: the schedule has no next run.
    expect(runtime.status().pingSources[0]).toMatchObject({ name: 'tick', next: null });
    expect(received[0]).toMatchObject({ path: '/manifest', body: '{"from":"manifest"}' });
    expect(received[0]?.headers['ce-source']).toBe('/apis/v1/namespaces/default/pingsources/tick');
    await rm(dir, { recursive: true, force: true });
  });
});
