// The pod entry's server, in process: the Functions Framework's request handling for HTTP
// functions (raw body kept, parsers, the two ignored routes, no X-Powered-By or ETag), one JSON
// error for a failing function, a clear error for a module that registers nothing, and drain.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../_shared/errors.js';
import type { EchoReply } from '../../test/fixtures/functions/echo/echo.js';
import { FIXTURE_FUNCTIONS } from '../../test/support/fixtures.js';
import { loadWorkerConfig, serveFunction, type ServedFunction } from './server.js';

const load = (path: string): Promise<unknown> => import(pathToFileURL(path).href);
const source = (name: string): string => join(FIXTURE_FUNCTIONS, name, 'index.ts');

function config(target: string): ReturnType<typeof loadWorkerConfig> {
  return loadWorkerConfig({ FUNCTION_TARGET: target, KASKADE_FUNCTION_SOURCE: source(target), PORT: '0' });
}

describe('serveFunction', () => {
  let echo: ServedFunction;
  let crash: ServedFunction;
  let base = '';
  beforeAll(async () => {
    echo = await serveFunction(config('echo'), load);
    crash = await serveFunction(config('crash'), load);
    base = `http://127.0.0.1:${echo.port}`;
  });
  afterAll(async () => {
    await echo.drain(1_000);
    await crash.drain(1_000);
  });

  it.each([
    { name: 'JSON', type: 'application/json', body: '{"a": 1}' },
    { name: 'a structured CloudEvent', type: 'application/cloudevents+json', body: '{"specversion":"1.0"}' },
    { name: 'text', type: 'text/plain', body: 'héllo' },
    { name: 'a form', type: 'application/x-www-form-urlencoded', body: 'a=1&b=2' },
    { name: 'bytes of any other type', type: 'application/vnd.kaskade.safetensors', body: '\u0000\u0001binary' },
  ])('keeps the raw body of $name', async ({ type, body }) => {
    const res = await fetch(`${base}/x`, { method: 'POST', body, headers: { 'content-type': type } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('etag')).toBeNull();
    const reply = (await res.json()) as EchoReply;
    expect(reply.body).toBe(body);
    expect(reply.bodyBytes).toBe(Buffer.byteLength(body));
  });

  it.each(['/favicon.ico', '/robots.txt'])('answers %s with 404 without calling the function', async (path) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(404);
  });

  it('answers malformed JSON with a JSON 400', async () => {
    const res = await fetch(`${base}/`, { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'bad_input' });
  });

  it('answers malformed JSON with only an error and a code: no stack trace, no paths', async () => {
    for (const [type, body] of [
      ['application/json', '{"a": [1, 2'],
      ['application/cloudevents+json', '{"specversion": 1.0,}'],
      ['application/json', '\u0000\u0001'],
    ] as const) {
      const res = await fetch(`${base}/`, { method: 'POST', body, headers: { 'content-type': type } });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await res.text();
      expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['code', 'error']);
      expect(text).not.toMatch(/\n\s*at |node_modules|\/work\/|<html|<pre/i);
      expect(JSON.parse(text)).toMatchObject({
        code: 'bad_input',
        error: expect.stringMatching(/^the request body is not valid JSON/) as unknown,
      });
    }
  });

  it('refuses a body over the default limit with a JSON 413, before the function sees it', async () => {
    const body = JSON.stringify({ pad: 'x'.repeat(5 * 1024 * 1024) });
    const res = await fetch(`${base}/`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
    expect((await fetch(`${base}/after`)).status).toBe(200);
  });

  it('refuses a chunked body as soon as it passes KASKADE_MAX_BODY_BYTES', async () => {
    const small = await serveFunction(
      loadWorkerConfig({
        FUNCTION_TARGET: 'echo',
        KASKADE_FUNCTION_SOURCE: source('echo'),
        PORT: '0',
        KASKADE_MAX_BODY_BYTES: '65536',
      }),
      load,
    );
    try {
      const url = `http://127.0.0.1:${small.port}/`;
      const chunks = [Buffer.alloc(40_000, 0x61), Buffer.alloc(40_000, 0x61)];
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(next);
        },
      });
      const res = await fetch(url, {
        method: 'POST',
        body: stream,
        duplex: 'half',
        headers: { 'content-type': 'text/plain' },
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
      const fits = await fetch(url, {
        method: 'POST',
        body: 'a'.repeat(60_000),
        headers: { 'content-type': 'text/plain' },
      });
      expect(fits.status).toBe(200);
    } finally {
      await small.drain(1_000);
    }
  });

  it('reads KASKADE_MAX_BODY_BYTES: 4 MiB by default, a ConfigError naming it when bad', () => {
    expect(config('echo').maxBodyBytes).toBe(4 * 1024 * 1024);
    expect(() => loadWorkerConfig({ FUNCTION_TARGET: 'echo', KASKADE_MAX_BODY_BYTES: 'lots' })).toThrow(
      /KASKADE_MAX_BODY_BYTES/,
    );
  });

  it.each(['/throw', '/reject'])('answers a function failing at %s with a JSON 500 and keeps serving', async (path) => {
    const res = await fetch(`http://127.0.0.1:${crash.port}${path}`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal error', code: 'internal' });
    expect((await fetch(`${base}/still-up`)).status).toBe(200);
  });

  it('refuses a module that does not register the target', async () => {
    const wrong = { ...config('echo'), target: 'not-registered' };
    await expect(serveFunction(wrong, load)).rejects.toThrow(ConfigError);
    await expect(serveFunction(wrong, load)).rejects.toThrow(/does not register a function named "not-registered"/);
  });

  it("with auth on, lets GET and HEAD reach the module's declared openPaths without a token, and nothing else", async () => {
    const withOpenPaths = async (path: string): Promise<unknown> => ({
      ...((await load(path)) as object),
      openPaths: ['/page', 42, 'relative'],
    });
    const served = await serveFunction({ ...config('echo'), auth: { token: 'tok' } }, withOpenPaths);
    const at = `http://127.0.0.1:${served.port}`;
    try {
      const status = async (path: string, init: RequestInit = {}): Promise<number> =>
        (await fetch(`${at}${path}`, { ...init, signal: AbortSignal.timeout(30_000) })).status;
      expect(await status('/page')).toBe(200);
      expect(await status('/page?x=1', { method: 'HEAD' })).toBe(200);
      expect(await status('/page', { method: 'POST', body: '{}' })).toBe(401);
      expect(await status('/other')).toBe(401);
      expect(await status('/relative')).toBe(401);
      expect(await status('/other', { headers: { authorization: 'Bearer tok' } })).toBe(200);
    } finally {
      await served.drain(1_000);
    }
  });

  it('drains: in-flight requests finish, then the server closes', async () => {
    const served = await serveFunction(config('echo'), load);
    const slow = fetch(`http://127.0.0.1:${served.port}/?sleep=300`);
    await expect.poll(() => served.inFlight()).toBe(1);
    expect(await served.drain(5_000)).toBe(true);
    expect((await slow).status).toBe(200);
    expect(served.inFlight()).toBe(0);
  });
});
