// A programmable HTTP subscriber on a loopback port, for the broker's tests and benchmark:
// it records every request (arrival time, headers, raw body) and answers as told.
import { once } from 'node:events';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Received {
  /** performance.now() at arrival of the full body. */
  readonly at: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Answer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export type Respond = (request: Received, index: number) => Answer;

export interface Subscriber {
  readonly url: string;
  readonly received: Received[];
  /** Resolves with the first `count` requests, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startSubscriber(
  respond: Respond = () => ({ status: 200 }),
  keepRecords = true,
): Promise<Subscriber> {
  const received: Received[] = [];
  let count = 0;
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: Received = { at: performance.now(), headers: req.headers, body: Buffer.concat(chunks) };
      const answer = respond(request, count++);
      if (keepRecords) received.push(request);
      for (const wake of waiters) wake();
      const reply = () => {
        const body = answer.body ?? '';
        res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(body) }).end(body);
      };
      if (answer.delayMs !== undefined) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    waitFor(wanted, timeoutMs = 10_000) {
      return new Promise<Received[]>((resolve, reject) => {
        const check = () => {
          if (received.length < wanted) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received.slice(0, wanted));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`subscriber got ${received.length} of ${wanted} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
