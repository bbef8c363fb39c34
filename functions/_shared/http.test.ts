import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BadInputError, MethodNotAllowedError, NotFoundError, TimeoutError, UnavailableError } from './errors.js';
import { errorHeaders, errorResponse, postBytes } from './http.js';

describe('the one mapping of errors to HTTP answers', () => {
  it.each([
    {
      name: 'a 405 with the methods the path takes',
      error: new MethodNotAllowedError(['GET', 'POST'], 'PUT is not allowed'),
      status: 405,
      code: 'method_not_allowed',
      headers: { Allow: 'GET, POST' },
    },
    { name: 'a 400', error: new BadInputError('bad'), status: 400, code: 'bad_input', headers: {} },
    { name: 'a 404', error: new NotFoundError('gone'), status: 404, code: 'not_found', headers: {} },
    {
      name: 'an untyped error, without its message',
      error: new RangeError('secret detail'),
      status: 500,
      code: 'internal',
      headers: {},
    },
  ])('$name', ({ error, status, code, headers }) => {
    const answer = errorResponse(error);
    expect(answer.status).toBe(status);
    expect(answer.body.code).toBe(code);
    expect(answer.body.error).not.toContain('secret');
    expect(errorHeaders(error)).toEqual(headers);
  });
});

describe('postBytes', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });
  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('sends the bytes with their length and answers the status, headers and whole body', async () => {
    const url = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const got = Buffer.concat(chunks);
        res.writeHead(201, { 'x-length': req.headers['content-length'] ?? '' }).end(got.subarray(0, 3));
      });
    });
    const body = Uint8Array.from({ length: 300_000 }, (_, k) => k % 251);
    const answer = await postBytes(url, { 'content-type': 'application/octet-stream' }, body, 5_000);
    expect(answer.status).toBe(201);
    expect(answer.headers['x-length']).toBe('300000');
    expect([...answer.body]).toEqual([0, 1, 2]);
  });

  it('is a TimeoutError when the answer does not come in time, an UnavailableError when nothing listens', async () => {
    const url = await serve(() => undefined);
    await expect(postBytes(url, {}, new Uint8Array(4), 50)).rejects.toThrow(TimeoutError);
    const closed = await serve(() => undefined);
    const gone = servers.pop()!;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    await expect(postBytes(closed, {}, new Uint8Array(4), 5_000)).rejects.toThrow(UnavailableError);
  });

  it('refuses an answer over its limit', async () => {
    const url = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.end(Buffer.alloc(2_000)));
    });
    await expect(postBytes(url, {}, new Uint8Array(4), 5_000, 1_000)).rejects.toThrow(/over 1000 bytes/);
  });
});
