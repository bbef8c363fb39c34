// The traffic-shaping proxy in this process behind the Functions Framework's HTTP stack, with a
// B at the wire that counts bytes and concurrent requests, and an injected clock: the bandwidth
// limit holds by byte counts over clock time, threads bound the forwards in flight, bad
// settings are a 400.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { quietLogger } from '../../test/support/layer-servers.js';
import { createProxyHandler, Threads, type Clock } from './proxy.js';

const servers: Server[] = [];
let registered = 0;

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A B that counts the bytes it receives and the requests it holds at once; `hold` decides when to answer. */
function fakeB(hold: (held: Array<() => void>) => void = (held) => held.splice(0).forEach((f) => f())) {
  const state = { bytes: 0, requests: 0, concurrent: 0, maxConcurrent: 0, held: [] as Array<() => void> };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.concurrent++;
    state.maxConcurrent = Math.max(state.maxConcurrent, state.concurrent);
    req.on('data', (chunk: Buffer) => (state.bytes += chunk.length));
    req.on('end', () => {
      state.requests++;
      state.held.push(() => {
        state.concurrent--;
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: true, type: req.headers['ce-type'] }));
      });
      hold(state.held);
    });
  });
  return { server, state };
}

/** A clock that moves only when slept on. */
function fakeClock(): Clock & { t: number } {
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.t = Math.max(clock.t, clock.t + ms);
      return Promise.resolve();
    },
  };
  return clock;
}

async function proxy(targetUrl: string, bandwidth: number, threads: number, clock?: Clock): Promise<string> {
  const name = `split-proxy-test-${++registered}`;
  http(
    name,
    createProxyHandler({
      config: { targetUrl, bandwidth, threads, timeoutMs: 5_000, maxBodyBytes: 1 << 20 },
      clock,
      logger: quietLogger('split-proxy'),
    }),
  );
  return listen(getTestServer(name));
}

const post = (url: string, bytes: number) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'ce-type': 'dev.kaskade.split.activation' },
    body: new Uint8Array(bytes),
  });

describe('split-proxy', () => {
  it('holds the bandwidth limit: bytes through B over clock time is the set bytes/s', async () => {
    const b = fakeB();
    const clock = fakeClock();
    const url = await proxy(await listen(b.server), 50_000, 4, clock);
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(url, 10_000)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(((await a.json()) as { type: string }).type).toBe('dev.kaskade.split.activation');
    }
    expect(b.state.bytes).toBe(80_000);
    const rate = b.state.bytes / (clock.t / 1000);
    expect(rate).toBeGreaterThan(50_000 * 0.95);
    expect(rate).toBeLessThanOrEqual(50_000 * 1.05);

    // Changed at run time: twice the bandwidth, half the clock time for the same bytes.
    const set = await fetch(`${url}/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ bandwidth: 100_000 }),
    });
    expect(await set.json()).toEqual({ bandwidth: 100_000, threads: 4 });
    const before = clock.t;
    await Promise.all(Array.from({ length: 4 }, () => post(url, 25_000)));
    expect((100_000 * 1000) / (clock.t - before)).toBeCloseTo(100_000, -3);
  });

  it('the thread count bounds the forwards in flight, and changes at run time', async () => {
    let threads = 2;
    // B answers a round once it holds as many requests as the proxy may have in flight.
    const b = fakeB((held) => {
      if (held.length >= threads) held.splice(0).forEach((f) => f());
    });
    const url = await proxy(await listen(b.server), 0, threads);
    const first = await Promise.all(Array.from({ length: 6 }, () => post(url, 100)));
    expect(first.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(b.state.maxConcurrent).toBe(2);

    threads = 3;
    const set = await fetch(`${url}/set_threads?threads=3`, { method: 'POST' });
    expect(await set.json()).toEqual({ bandwidth: 0, threads: 3 });
    b.state.maxConcurrent = 0;
    await Promise.all(Array.from({ length: 6 }, () => post(url, 100)));
    expect(b.state.maxConcurrent).toBe(3);
    expect(await (await fetch(`${url}/settings`)).json()).toEqual({ bandwidth: 0, threads: 3, inFlight: 0 });
  });

  it('a lowered thread limit takes effect as forwards finish', async () => {
    const t = new Threads(2);
    await t.acquire();
    await t.acquire();
    let third = false;
    const waiting = t.acquire().then(() => (third = true));
    t.setLimit(1);
    t.release();
    await Promise.resolve();
    expect(third).toBe(false);
    t.release();
    await waiting;
    expect(third).toBe(true);
    expect(t.inFlight).toBe(1);
  });

  it('answers bad settings with a 400 that says what is allowed, and keeps the old ones', async () => {
    const url = await proxy(await listen(fakeB().server), 1000, 2);
    for (const body of [
      { bandwidth: -1 },
      { bandwidth: 'fast' },
      { threads: 0 },
      { threads: 1.5 },
      { threads: 1000 },
      { speed: 3 },
      [1],
    ]) {
      const res = await fetch(`${url}/settings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/bandwidth|threads|setting/);
    }
    expect((await fetch(`${url}/set_threads?threads=abc`, { method: 'POST' })).status).toBe(400);
    expect(await (await fetch(`${url}/settings`)).json()).toEqual({ bandwidth: 1000, threads: 2, inFlight: 0 });
  });
});
