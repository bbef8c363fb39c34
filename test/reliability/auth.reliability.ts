// Optional bearer-token authentication, end to end: the shipped functions served by the pod entry
// (functions/_main) with KASKADE_AUTH_TOKEN set, and the local broker's ingress and deliveries.
// A missing or wrong token is a JSON 401 and nothing is processed (an oversized or malformed body
// is not even read: 401, never 413 or 400); the probes stay open; the token passes.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../../events/broker/index.js';
import { loadWorkerConfig, serveFunction, type ServedFunction } from '../../functions/_main/server.js';
import { FIXTURE_FUNCTIONS } from '../support/fixtures.js';
import { makeTempDir, type TempDir } from '../support/temp-dir.js';

const TOKEN = 'reliability-token-0123456789';
const ROOT = join(import.meta.dirname, '..', '..');
const load = (path: string): Promise<unknown> => import(pathToFileURL(path).href);

/** The functions served here, each with a path that reaches its handler (so a 401 means the guard). */
const FUNCTIONS = [
  { target: 'echo', source: join(FIXTURE_FUNCTIONS, 'echo', 'index.ts'), path: '/x', probe: '/healthz' },
  { target: 'splitter', path: '/', probe: '/healthz' },
  { target: 'shard-trainer', path: '/', probe: '/healthz' },
  { target: 'aggregator', path: '/', probe: '/healthz' },
  { target: 'predictor', path: '/v2/models/mnist/infer', probe: '/v2/health/live' },
];

let store: TempDir;
const served = new Map<string, ServedFunction>();

beforeAll(async () => {
  store = await makeTempDir('kaskade-auth-store-');
  // What a pod's environment holds; the modules read it once, at import.
  Object.assign(process.env, {
    KASKADE_STORAGE_ROOTS: store.url,
    KASKADE_MODELS_URL: `${store.url}/models/`,
    KASKADE_BROKER_URL: 'http://127.0.0.1:9/unused',
  });
  for (const f of FUNCTIONS) {
    const config = loadWorkerConfig({
      FUNCTION_TARGET: f.target,
      PORT: '0',
      KASKADE_AUTH_TOKEN: TOKEN,
      KASKADE_MAX_BODY_BYTES: '65536',
      ...(f.source
        ? { KASKADE_FUNCTION_SOURCE: f.source }
        : { KASKADE_FUNCTION_SOURCE: join(ROOT, 'functions', f.target, 'index.ts') }),
    });
    served.set(f.target, await serveFunction(config, load));
  }
});

afterAll(async () => {
  for (const s of served.values()) await s.drain(2_000);
  await store.remove();
});

function urlOf(target: string, path: string): string {
  return `http://127.0.0.1:${served.get(target)?.port ?? 0}${path}`;
}

describe.each(FUNCTIONS)('$target with a token configured', ({ target, path, probe }) => {
  it.each([
    { name: 'no token', authorization: '' },
    { name: 'a wrong token', authorization: 'Bearer not-the-token' },
    { name: 'the token as Basic credentials', authorization: `Basic ${TOKEN}` },
  ])('answers $name with a JSON 401 and a Bearer challenge', async ({ authorization }) => {
    const headers: Record<string, string> = authorization === '' ? {} : { authorization };
    const res = await fetch(urlOf(target, path), {
      method: 'POST',
      body: '{"inputs": []}',
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.json()).toMatchObject({ code: 'unauthorized', error: expect.any(String) as unknown });
  });

  it('does not read the body of a refused request: an oversized or malformed one is 401 too', async () => {
    const big = await fetch(urlOf(target, path), {
      method: 'POST',
      body: 'x'.repeat(200_000),
      headers: { 'content-type': 'application/json' },
    });
    expect(big.status).toBe(401);
    const bad = await fetch(urlOf(target, path), {
      method: 'POST',
      body: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(401);
  });

  it('leaves its probe open and lets the token through to the handler', async () => {
    expect((await fetch(urlOf(target, probe))).status).toBe(200);
    const res = await fetch(urlOf(target, path), {
      method: 'POST',
      body: '{',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    // Past the guard, the framework parses the body: malformed JSON is now its 400.
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'bad_input' });
  });
});

describe('a WebSocket upgrade with a token configured', () => {
  it('is refused without the token before the function sees it', async () => {
    const { port } = served.get('echo') ?? { port: 0 };
    const answer = await rawUpgrade(port, {});
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(answer).toMatch(/"code":"unauthorized"/);
    expect(await rawUpgrade(port, { authorization: `Bearer ${TOKEN}` })).not.toMatch(/^HTTP\/1\.1 401/);
  });
});

/** Sends a WebSocket upgrade by hand and returns the first bytes of the answer. */
async function rawUpgrade(port: number, headers: Record<string, string>): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [
        'GET /ws HTTP/1.1',
        `host: 127.0.0.1:${port}`,
        'upgrade: websocket',
        'connection: Upgrade',
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version: 13',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

describe('the local broker with a token configured', () => {
  let subscriber: Server;
  const received: IncomingHttpHeaders[] = [];
  let broker: LocalBroker;
  let ingress = '';

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      received.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    const sink = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/`;
    broker = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: [{ name: 'all', broker: 'default', subscriberUri: sink }],
      auth: { token: TOKEN },
    });
    ingress = broker.url('kaskade', 'default') ?? '';
  });

  afterAll(async () => {
    await broker.close();
    subscriber.closeAllConnections();
    await new Promise<void>((r) => subscriber.close(() => r()));
  });

  const post = (id: string, headers: Record<string, string>): Promise<Response> =>
    fetch(ingress, {
      method: 'POST',
      body: '{}',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-source': '/auth-test',
        'ce-type': 'dev.kaskade.test.sent',
        'content-type': 'application/json',
        ...headers,
      },
    });

  it('refuses an event without the token or with a wrong one (401), and delivers none of them', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      const res = await post('refused', headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    }
    // Not even read: a body that is no event at all is 401 too, not 400.
    const notAnEvent = await fetch(ingress, { method: 'POST', body: '{', headers: { 'content-type': 'text/plain' } });
    expect(notAnEvent.status).toBe(401);
    // An accepted event after them is the first (and only) delivery.
    expect((await post('accepted', { authorization: `Bearer ${TOKEN}` })).status).toBe(202);
    await expect.poll(() => received.length, { timeout: 30_000 }).toBe(1);
    expect(received[0]?.['ce-id']).toBe('accepted');
  });

  it('carries the token to its subscribers', () => {
    expect(received[0]?.authorization).toBe(`Bearer ${TOKEN}`);
  });
});
