// The local ingress: routing (the Host form, the path form, and what is not a route), and an
// upstream's early answer passed through to a client that is still sending.
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitRequestBodies } from '../../functions/predictor/body-limit.js';
import { startIngress, routeOf, type Ingress, type Route } from './ingress.js';
import type { Logger } from '../../functions/_shared/log.js';
import type { Slot } from './pool.js';

const quietLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('routeOf', () => {
  const cases: Array<{ name: string; host: string | undefined; url: string; want: Route | null }> = [
    {
      name: 'host form with port',
      host: 'echo.default.localhost:8080',
      url: '/a?b=1',
      want: { namespace: 'default', name: 'echo', path: '/a?b=1', prefix: null },
    },
    {
      name: 'host form is case-insensitive',
      host: 'Echo.Default.LOCALHOST',
      url: '/',
      want: { namespace: 'default', name: 'echo', path: '/', prefix: null },
    },
    {
      name: 'cluster-local host',
      host: 'split-half-a.kaskade.svc.cluster.local',
      url: '/x',
      want: { namespace: 'kaskade', name: 'split-half-a', path: '/x', prefix: null },
    },
    {
      name: 'short cluster host',
      host: 'echo.kaskade.svc',
      url: '/',
      want: { namespace: 'kaskade', name: 'echo', path: '/', prefix: null },
    },
    {
      name: 'host form wins over a path that looks like a route',
      host: 'echo.default.localhost',
      url: '/other/svc/x',
      want: { namespace: 'default', name: 'echo', path: '/other/svc/x', prefix: null },
    },
    {
      name: 'path form',
      host: '127.0.0.1:8080',
      url: '/default/echo/a/b?c=d',
      want: { namespace: 'default', name: 'echo', path: '/a/b?c=d', prefix: '/default/echo' },
    },
    {
      name: 'path form without trailing slash',
      host: '127.0.0.1',
      url: '/default/echo',
      want: { namespace: 'default', name: 'echo', path: '/', prefix: '/default/echo' },
    },
    {
      name: 'path form with only a query',
      host: '127.0.0.1',
      url: '/default/echo?x=1',
      want: { namespace: 'default', name: 'echo', path: '/?x=1', prefix: '/default/echo' },
    },
    {
      name: 'a name that only starts like a service is not it',
      host: '127.0.0.1',
      url: '/default/echoes',
      want: { namespace: 'default', name: 'echoes', path: '/', prefix: '/default/echoes' },
    },
    { name: 'one segment is no route', host: 'localhost', url: '/default', want: null },
    { name: 'uppercase path is no route', host: 'localhost', url: '/Default/Echo/', want: null },
    { name: 'plain localhost root', host: 'localhost:8080', url: '/', want: null },
    {
      name: 'a one-label .localhost host falls back to the path',
      host: 'echo.localhost',
      url: '/ns/svc/',
      want: { namespace: 'ns', name: 'svc', path: '/', prefix: '/ns/svc' },
    },
  ];
  it.each(cases)('$name', ({ host, url, want }) => {
    expect(routeOf(host, url)).toEqual(want);
  });
});

describe('the ingress passes an early answer through', () => {
  const MB = 1024 * 1024;
  let upstream: Server;
  let ingress: Ingress;
  const agent = new Agent({ keepAlive: true });
  beforeAll(async () => {
    // A worker with the predictor's body limit: 413 on a declared Content-Length over 1 MiB,
    // without reading the body, then a lingering close.
    upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('read it');
    });
    limitRequestBodies(upstream, MB);
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
    const port = (upstream.address() as AddressInfo).port;
    const slot = (): Slot => ({ pod: 'big-1', port, agent, release: () => undefined });
    ingress = await startIngress({
      port: 0,
      host: '127.0.0.1',
      lookup: (ns, name) =>
        ns === 'default' && name === 'big'
          ? { pool: { acquire: () => Promise.resolve(slot()) }, timeoutMs: 30_000 }
          : undefined,
      admin: () => false,
      logger: quietLogger,
    });
  });
  afterAll(async () => {
    await ingress.close();
    upstream.closeAllConnections();
    await new Promise<void>((done) => upstream.close(() => done()));
    agent.destroy();
  });

  /**
   * Posts `total` bytes in chunks of up to 1 MiB, as fast as the connection takes them, and reads
   * the answer; with `expect`, as curl does for large bodies: `Expect: 100-continue`, and the body
   * after the 100.
   */
  function post(total: number, expect = false): Promise<{ status: number; body: string; sent: number }> {
    return new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const headers = {
        'content-type': 'application/octet-stream',
        'content-length': total,
        ...(expect ? { expect: '100-continue' } : {}),
      };
      const req = request({
        host: '127.0.0.1',
        port: ingress.port,
        method: 'POST',
        path: '/default/big/v2/models/mnist/infer',
        headers,
      });
      const chunk = Buffer.alloc(MB, 7);
      const pump = (): void => {
        while (!answered && sent < total) {
          const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
          sent += part.length;
          if (!req.write(part)) {
            req.once('drain', pump);
            return;
          }
        }
        if (sent >= total) req.end();
      };
      req.on('response', (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), sent }),
        );
        res.on('error', reject);
      });
      // After the answer, the connection may close under the rest of the body: that is expected.
      req.on('error', (e) => {
        if (!answered) reject(e);
      });
      if (expect) {
        req.flushHeaders();
        req.once('continue', pump);
      } else pump();
    });
  }

  it.each([
    { name: 'sent at once', expect: false },
    { name: 'sent after 100 Continue, as curl sends it', expect: true },
  ])("a 120 MB body $name gets the worker's 413, not a 502", async ({ expect: withExpect }) => {
    const answer = await post(120 * MB, withExpect);
    expect(answer.status).toBe(413);
    expect(answer.body).toMatch(/"error":"the request body is \d+ bytes; the limit is \d+"/);
    expect(answer.sent).toBeLessThan(120 * MB);
  });

  it('keeps serving after a refusal', async () => {
    await post(120 * MB);
    expect(await post(1000)).toMatchObject({ status: 200, body: 'read it' });
  });
});
