// System tests of the local runtime: real worker processes behind the real ingress, on loopback.
// Windows are shortened (timeScale) so scale-up and scale-to-zero happen within seconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReply } from '../../test/fixtures/functions/echo/echo.js';
import { FIXTURE_FUNCTIONS, FIXTURE_MANIFESTS } from '../../test/support/fixtures.js';
import { startRuntime, type Runtime, type ServiceStatus } from './runtime.js';

const MANIFESTS = join(FIXTURE_MANIFESTS, 'echo.yaml');

let runtime: Runtime;
let stateDir: string;
const logs: string[] = [];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-runtime-'));
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  // window 6s × 0.25 = 1.5 s stable window, 0.5 s ticks.
  runtime = await startRuntime({
    manifests: MANIFESTS,
    functionsDir: FIXTURE_FUNCTIONS,
    stateDir,
    allowZeroInitialScale: true,
    kpa: { timeScale: 0.25 },
    logSink: sink,
  });
});

afterAll(async () => {
  await runtime.close();
  await rm(stateDir, { recursive: true, force: true });
});

function service(name: string): ServiceStatus {
  const s = runtime.status().services.find((x) => x.name === name);
  if (!s) throw new Error(`no service ${name}`);
  return s;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scale from zero, up and back to zero', () => {
  it('buffers the first request while at zero and answers it', async () => {
    expect(service('echo').pods).toHaveLength(0);
    const res = await fetch(`${runtime.url('echo')}/first?x=1`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as EchoReply;
    expect(reply).toMatchObject({ method: 'POST', path: '/first', query: { x: '1' }, body: 'hello' });
    expect(reply.headers['x-forwarded-prefix']).toBe('/default/echo');
  });

  it('scales to at least two workers under 8 concurrent slow requests (target 1), then balances across them', async () => {
    const burst = Promise.all(
      Array.from({ length: 8 }, () => fetch(`${runtime.url('echo')}/?sleep=1500`).then((r) => r.status)),
    );
    await until('two ready echo workers', () => service('echo').ready >= 2, 10_000);
    expect(service('echo').mode).toBe('panic');
    expect(await burst).toEqual(Array.from({ length: 8 }, () => 200));
    const pids = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(`${runtime.url('echo')}/?sleep=300`).then(async (r) => ((await r.json()) as EchoReply).pid),
      ),
    );
    expect(new Set(pids).size).toBeGreaterThanOrEqual(2);
  });

  it('returns to zero after a stable window without traffic', async () => {
    await until('echo at zero', () => service('echo').pods.length === 0 && service('echo').desired === 0, 15_000);
  });
});

describe('containerConcurrency', () => {
  it('sends one request at a time to a worker with containerConcurrency 1; the rest queue', async () => {
    let peakQueued = 0;
    let peakInFlight = 0;
    const watch = setInterval(() => {
      const s = service('echo-cc');
      peakQueued = Math.max(peakQueued, s.queued);
      peakInFlight = Math.max(peakInFlight, ...s.pods.map((p) => p.inFlight));
    }, 10);
    const t0 = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 4 }, () => fetch(`${runtime.url('echo-cc')}/?sleep=200`).then((r) => r.status)),
    );
    clearInterval(watch);
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4 * 200);
    expect(peakInFlight).toBe(1);
    expect(peakQueued).toBeGreaterThanOrEqual(1);
  });

  it('answers 503 when the queue in front of the worker is full (10 × containerConcurrency)', async () => {
    await until('echo-cc ready', () => service('echo-cc').ready === 1, 10_000);
    // One request holds the worker's only slot; the next 13 find 10 places in the queue.
    const holder = fetch(`${runtime.url('echo-cc')}/?sleep=1000`).then((r) => r.status);
    await until('the holder in flight', () => service('echo-cc').pods.some((p) => p.inFlight === 1), 10_000);
    const statuses = await Promise.all(
      Array.from({ length: 13 }, () => fetch(`${runtime.url('echo-cc')}/`).then((r) => r.status)),
    );
    expect(await holder).toBe(200);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 503)).toHaveLength(3);
  });

  it('answers 504 when the service does not answer within timeoutSeconds', async () => {
    const res = await fetch(`${runtime.url('echo-cc')}/?sleep=5000`);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { code: string }).code).toBe('timeout');
  });
});

describe('routing', () => {
  it.each([
    { name: 'unknown service by path', path: '/default/nope/', host: undefined, status: 404 },
    { name: 'unknown namespace by host', path: '/', host: 'echo.other.localhost', status: 404 },
    { name: 'no route at all', path: '/', host: undefined, status: 404 },
    { name: 'service by host header', path: '/via-host', host: 'echo-cc.default.localhost', status: 200 },
    { name: 'service by cluster-local host', path: '/', host: 'echo-cc.default.svc.cluster.local', status: 200 },
  ])('$name → $status', async ({ path, host, status }) => {
    const res = await new Promise<{ status: number; body: string }>((resolveRes, reject) => {
      const socket = connect({ port: runtime.port, host: '127.0.0.1' }, () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host ?? `127.0.0.1:${runtime.port}`}\r\nConnection: close\r\n\r\n`,
        );
      });
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString()));
      socket.on('end', () => resolveRes({ status: Number(data.split(' ')[1]), body: data.split('\r\n\r\n')[1] ?? '' }));
      socket.on('error', reject);
    });
    expect(res.status).toBe(status);
    if (status === 404) expect(JSON.parse(res.body)).toMatchObject({ code: 'not_found' });
  });

  it('passes an HTTP upgrade through to the worker and back', async () => {
    const echoed = await new Promise<string>((resolveEcho, reject) => {
      const socket = connect({ port: runtime.port, host: '127.0.0.1' }, () => {
        socket.write('GET /default/echo-cc/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      });
      let data = '';
      let sent = false;
      socket.on('data', (c: Buffer) => {
        data += c.toString();
        if (!sent && data.includes('\r\n\r\n')) {
          sent = true;
          socket.write('ping-pong');
        }
        if (data.endsWith('ping-pong')) {
          socket.end();
          resolveEcho(data);
        }
      });
      socket.on('error', reject);
    });
    expect(echoed.startsWith('HTTP/1.1 101')).toBe(true);
    expect(echoed.endsWith('\r\n\r\nping-pong')).toBe(true);
  });

  it('serves its status on the admin endpoint', async () => {
    const res = await fetch(`http://127.0.0.1:${runtime.port}/_kaskade/status`);
    const body = (await res.json()) as { services: Array<{ name: string; hostUrl: string }> };
    expect(body.services.map((s) => s.name).sort()).toEqual(['echo', 'echo-cc']);
    expect(body.services[0]?.hostUrl).toMatch(/^http:\/\/echo(-cc)?\.default\.localhost:\d+$/);
  });
});

describe('a service that cannot start', () => {
  it('answers the waiting request 503 with the reason, and keeps the runtime up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaskade-broken-'));
    const broken = await startRuntime({
      manifests: MANIFESTS,
      functionsDir: FIXTURE_FUNCTIONS,
      stateDir: dir,
      allowZeroInitialScale: true,
      env: { ECHO_MAX_SLEEP_MS: 'soon' },
      logSink: new PassThrough(),
    });
    try {
      const res = await fetch(`${broken.url('echo-cc')}/`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /failed to start.*ECHO_MAX_SLEEP_MS must be an integer/,
      );
      expect((await fetch(`http://127.0.0.1:${broken.port}/_kaskade/healthz`)).status).toBe(200);
    } finally {
      await broken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a second runtime on the same state folder', async () => {
    await expect(
      startRuntime({
        manifests: MANIFESTS,
        functionsDir: FIXTURE_FUNCTIONS,
        stateDir,
        allowZeroInitialScale: true,
        logSink: new PassThrough(),
      }),
    ).rejects.toThrow(/another runtime .* uses/);
  });
});
