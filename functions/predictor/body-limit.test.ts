// The body limit as a client meets it, at the socket: a declared size over the limit is refused
// before the body is sent, a chunked body is cut off once it passes the limit, and every refusal
// (and a body that is not JSON) is a JSON error, never the framework's HTML page.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  publishBenchModel,
  spawnPredictor,
  waitForFirstInfer,
  type BenchModel,
  type RunningPredictor,
} from '../../test/support/predictor-process.js';
import { barImage } from '../../test/support/models.js';
import { startHarness, type Harness } from '../../test/support/predictor.js';

const LIMIT = 65_536;

interface Exchange {
  status: number;
  headers: string;
  body: string;
  /** Body bytes the client managed to hand to its socket before the server answered or closed. */
  bodyBytesSent: number;
}

/**
 * One HTTP/1.1 request over a raw socket: `head` (request line and headers), then either `body`
 * or, with `chunkedBytes`, a chunked body of up to that many bytes written as fast as the server
 * takes it. Stops sending once the answer starts; resolves when the server closes.
 */
function exchange(
  url: string,
  head: string,
  options: { body?: string; chunkedBytes?: number; waitForContinue?: boolean } = {},
): Promise<Exchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    let answered = false;
    let sent = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 20 s; received so far: ${received.slice(0, 200)}`));
    }, 20_000);
    const finish = (): void => {
      clearTimeout(timer);
      const [headers = '', body = ''] = received.split('\r\n\r\n', 2);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? NaN);
      resolve({ status, headers, body, bodyBytesSent: sent });
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      answered = true;
      if (options.waitForContinue && received.startsWith('HTTP/1.1 100')) {
        received = received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
        answered = received.length > 0;
        if (options.body !== undefined) {
          socket.write(options.body);
          sent += Buffer.byteLength(options.body);
        }
      }
    });
    socket.on('error', () => undefined); // a reset while still sending: the answer (if any) is already in `received`
    socket.on('close', finish);
    socket.write(`${head}\r\n\r\n`);
    if (options.body !== undefined && !options.waitForContinue) {
      socket.write(options.body);
      sent += Buffer.byteLength(options.body);
    }
    if (options.chunkedBytes !== undefined) {
      const total = options.chunkedBytes;
      const chunk = Buffer.alloc(16_384, 0x20);
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      const pump = (): void => {
        while (!answered && !socket.destroyed && sent < total) {
          sent += chunk.length;
          if (!socket.write(frame)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (!answered && !socket.destroyed) socket.write('0\r\n\r\n');
      };
      pump();
    }
  });
}

const inferHead = (headers: string[]): string =>
  ['POST /v2/models/mnist/infer HTTP/1.1', 'Host: localhost', 'Content-Type: application/json', ...headers].join(
    '\r\n',
  );

const inferJson = JSON.stringify({ inputs: [{ name: 'image', shape: [1, 784], datatype: 'FP32', data: barImage() }] });

describe('request body limit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ KASKADE_MAX_BODY_BYTES: String(LIMIT) });
  });
  afterAll(async () => {
    await h.close();
  });

  interface Case {
    name: string;
    run: (url: string) => Promise<Exchange>;
    status: number;
    error?: string;
    /** Most body bytes the client may have sent before the refusal. */
    maxSent?: number;
  }

  const cases: Case[] = [
    {
      name: 'a declared Content-Length over the limit is refused before any body byte is sent',
      run: (url) => exchange(url, inferHead(['Content-Length: 500000000'])),
      status: 413,
      error: 'the request body is 500000000 bytes; the limit is 65536',
      maxSent: 0,
    },
    {
      name: 'with Expect: 100-continue, an oversized body is refused instead of continued',
      run: (url) =>
        exchange(url, inferHead(['Content-Length: 500000000', 'Expect: 100-continue']), {
          waitForContinue: true,
          body: 'x',
        }),
      status: 413,
      error: 'the limit is 65536',
      maxSent: 0,
    },
    {
      name: 'a chunked body is cut off once it passes the limit',
      run: (url) => exchange(url, inferHead(['Transfer-Encoding: chunked']), { chunkedBytes: 512 * 1024 * 1024 }),
      status: 413,
      error: 'over the limit of 65536 bytes',
      // The limit plus what the kernel's socket buffers took before reading stopped.
      maxSent: 16 * 1024 * 1024,
    },
    {
      name: 'a chunked body under the limit is served',
      run: (url) =>
        exchange(url, inferHead(['Transfer-Encoding: chunked', 'Connection: close']), {
          body: `${Buffer.byteLength(inferJson).toString(16)}\r\n${inferJson}\r\n0\r\n\r\n`,
        }),
      status: 200,
    },
    {
      name: 'with Expect: 100-continue, a body under the limit is continued and served',
      run: (url) =>
        exchange(
          url,
          inferHead([`Content-Length: ${Buffer.byteLength(inferJson)}`, 'Expect: 100-continue', 'Connection: close']),
          { waitForContinue: true, body: inferJson },
        ),
      status: 200,
    },
    {
      name: 'a compressed body is refused with JSON',
      run: (url) => exchange(url, inferHead(['Content-Encoding: gzip', 'Content-Length: 4']), { body: 'abcd' }),
      status: 400,
      error: 'Content-Encoding "gzip" is not accepted',
    },
    {
      name: 'malformed application/json is a JSON 400, not an HTML page',
      run: (url) => exchange(url, inferHead(['Content-Length: 12', 'Connection: close']), { body: '{"inputs": [' }),
      status: 400,
      error: 'the request body is not JSON',
    },
    {
      name: 'an oversized event is refused the same way',
      run: (url) =>
        exchange(
          url,
          [
            'POST /events HTTP/1.1',
            'Host: localhost',
            'Content-Type: application/json',
            'ce-specversion: 1.0',
            'Transfer-Encoding: chunked',
          ].join('\r\n'),
          {
            chunkedBytes: 8 * 1024 * 1024,
          },
        ),
      status: 413,
      error: 'over the limit',
    },
  ];

  it.each(cases)('$name', async ({ run, status, error, maxSent }) => {
    const answer = await run(h.url);
    expect(answer.status, answer.headers).toBe(status);
    expect(answer.headers.toLowerCase()).toContain('content-type: application/json');
    const body = JSON.parse(answer.body) as { error?: string; code?: string };
    if (error !== undefined) expect(body.error).toContain(error);
    if (maxSent !== undefined) expect(answer.bodyBytesSent).toBeLessThanOrEqual(maxSent);
  });

  it('keeps serving after refusals', async () => {
    const res = await fetch(`${h.url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: inferJson,
    });
    expect(res.status).toBe(200);
  });
});

describe('body limit in the worker process (what a pod runs)', () => {
  let model: BenchModel;
  let running: RunningPredictor;
  beforeAll(async () => {
    model = await publishBenchModel();
    running = await spawnPredictor(model, { KASKADE_MAX_BODY_BYTES: String(LIMIT) });
    await waitForFirstInfer(running.url, performance.now(), 60_000);
  }, 90_000);
  afterAll(async () => {
    await running.stop();
    await model.cleanup();
  });

  it('refuses an oversized chunked body before the framework buffers it', async () => {
    const answer = await exchange(running.url, inferHead(['Transfer-Encoding: chunked']), {
      chunkedBytes: 512 * 1024 * 1024,
    });
    expect(answer.status).toBe(413);
    expect((JSON.parse(answer.body) as { error: string }).error).toContain('over the limit of 65536 bytes');
    expect(answer.bodyBytesSent).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it('answers malformed JSON with a JSON 400', async () => {
    const res = await fetch(`${running.url}/v2/models/mnist/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"inputs": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('not JSON');
  });
});
