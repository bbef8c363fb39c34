// The echo function in process: sleep parsing, and the handler behind the Functions Framework's
// own server (what a worker serves).
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import { loadConfig, parseSleep, type EchoReply } from './echo.js';
import './index.js';

describe('parseSleep', () => {
  it.each([
    { name: 'absent means no sleep', raw: undefined, want: 0 },
    { name: 'zero', raw: '0', want: 0 },
    { name: 'in range', raw: '250', want: 250 },
    { name: 'at the bound', raw: '1000', want: 1000 },
  ])('$name', ({ raw, want }) => {
    expect(parseSleep(raw, 1000)).toBe(want);
  });

  it.each([
    { name: 'over the bound', raw: '1001' },
    { name: 'negative', raw: '-1' },
    { name: 'fractional', raw: '1.5' },
    { name: 'not a number', raw: 'soon' },
    { name: 'repeated parameter', raw: ['1', '2'] },
  ])('rejects $name', ({ raw }) => {
    expect(() => parseSleep(raw, 1000)).toThrow(BadInputError);
  });
});

describe('loadConfig', () => {
  it.each([
    { name: 'default bound', env: {}, want: 30_000 },
    { name: 'bound from env', env: { ECHO_MAX_SLEEP_MS: '50' }, want: 50 },
  ])('$name', ({ env, want }) => {
    expect(loadConfig(env).maxSleepMs).toBe(want);
  });
});

describe('echo handler', () => {
  const server = getTestServer('echo');
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('answers method, path, query, headers and body', async () => {
    const res = await fetch(`${base}/a/b?x=1`, { method: 'PUT', body: 'héllo', headers: { 'content-type': 'text/plain', 'x-test': 'yes' } });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as EchoReply;
    expect(reply).toMatchObject({ method: 'PUT', path: '/a/b', query: { x: '1' }, body: 'héllo', bodyBytes: 6, pid: process.pid });
    expect(reply.headers['x-test']).toBe('yes');
  });

  it('sleeps when asked', async () => {
    const t0 = performance.now();
    const res = await fetch(`${base}/?sleep=150`);
    expect(res.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('answers 400 for a bad sleep', async () => {
    const res = await fetch(`${base}/?sleep=-5`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('bad_input');
  });
});
