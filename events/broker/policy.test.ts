import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  deadLetterEvent,
  DEFAULT_DELIVERY,
  isRetryable,
  parseRetryAfter,
  resolvePolicy,
  retryDelayMs,
  type AttemptResult,
  type DeliveryPolicy,
} from './policy.js';

const policy = (over: Partial<DeliveryPolicy> = {}): DeliveryPolicy => ({
  retry: 3,
  backoffPolicy: 'linear',
  backoffDelayMs: 200,
  backoffMaxMs: undefined,
  retryAfterMaxMs: 30_000,
  timeoutMs: 1000,
  deadLetterUri: undefined,
  ...over,
});
const answer = (status: number, headers: Record<string, string> = {}, body = ''): AttemptResult => ({
  kind: 'response',
  status,
  headers,
  body: Buffer.from(body),
  truncated: false,
});

describe('delivery policy', () => {
  it.each([
    { name: 'linear, retry 1', p: policy(), n: 1, ms: 200 },
    { name: 'linear, retry 3', p: policy(), n: 3, ms: 600 },
    { name: 'exponential, retry 1', p: policy({ backoffPolicy: 'exponential' }), n: 1, ms: 400 },
    { name: 'exponential, retry 4', p: policy({ backoffPolicy: 'exponential' }), n: 4, ms: 3200 },
    {
      name: 'exponential capped by backoffMax',
      p: policy({ backoffPolicy: 'exponential', backoffMaxMs: 1000 }),
      n: 4,
      ms: 1000,
    },
  ])('backoff $name → $ms ms', ({ p, n, ms }) => {
    expect(backoffMs(p, n)).toBe(ms);
  });

  it.each([
    { name: '500', result: answer(500), retry: true },
    { name: '503', result: answer(503), retry: true },
    { name: '404', result: answer(404), retry: true },
    { name: '409', result: answer(409), retry: true },
    { name: '429', result: answer(429), retry: true },
    { name: '400', result: answer(400), retry: false },
    { name: '403', result: answer(403), retry: false },
    { name: '302', result: answer(302), retry: false },
    { name: 'network error', result: { kind: 'error', message: 'ECONNREFUSED', aborted: false } as const, retry: true },
    { name: 'shutdown', result: { kind: 'error', message: 'closing', aborted: true } as const, retry: false },
  ])('$name retried: $retry', ({ result, retry }) => {
    expect(isRetryable(result)).toBe(retry);
  });

  it.each([
    { name: 'Retry-After longer than the backoff wins', result: answer(429, { 'retry-after': '2' }), ms: 2000 },
    { name: 'backoff wins when longer', result: answer(503, { 'retry-after': '0' }), ms: 200 },
    { name: 'capped at retryAfterMax', result: answer(429, { 'retry-after': '3600' }), ms: 30_000 },
    { name: 'HTTP date', result: answer(503, { 'retry-after': new Date(1_000_000 + 5000).toUTCString() }), ms: 5000 },
    { name: 'ignored on a 500', result: answer(500, { 'retry-after': '9' }), ms: 200 },
    { name: 'unreadable value ignored', result: answer(429, { 'retry-after': 'soon' }), ms: 200 },
  ])('retry delay: $name', ({ result, ms }) => {
    expect(retryDelayMs(policy(), 1, result, 1_000_000)).toBe(ms);
  });

  it('parses Retry-After only when present', () => {
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter(['7'], 0)).toBe(7000);
  });

  it('takes each field from the trigger, else the broker, else the defaults', () => {
    const p = resolvePolicy(
      { retry: 1 },
      { retry: 5, backoffPolicy: 'linear', timeout: 'PT2S', deadLetterSink: { uri: 'http://dls/' } },
      DEFAULT_DELIVERY,
      'trigger t',
    );
    expect(p).toEqual({
      retry: 1,
      backoffPolicy: 'linear',
      backoffDelayMs: 200,
      backoffMaxMs: undefined,
      retryAfterMaxMs: 30_000,
      timeoutMs: 2000,
      deadLetterUri: 'http://dls/',
    });
    expect(() => resolvePolicy({ timeout: '2s' }, undefined, DEFAULT_DELIVERY, 'trigger t')).toThrow(
      /trigger t: delivery\.timeout/,
    );
  });

  it('builds the dead-letter event with Knative error extensions, bounded', () => {
    const event = {
      attributes: { specversion: '1.0', id: '1', source: '/s', type: 't' },
      data: Buffer.from('payload'),
    };
    const dead = deadLetterEvent(event, 'http://sub/', answer(500, {}, 'x'.repeat(5000)));
    expect(dead.attributes).toMatchObject({ id: '1', knativeerrordest: 'http://sub/', knativeerrorcode: '500' });
    expect(Buffer.from(dead.attributes.knativeerrordata ?? '', 'base64').byteLength).toBe(1024);
    expect(dead.data).toBe(event.data);
    const noAnswer = deadLetterEvent(event, 'http://sub/', {
      kind: 'error',
      message: 'no answer within 100 ms',
      aborted: false,
    });
    expect(noAnswer.attributes.knativeerrorcode).toBeUndefined();
    expect(Buffer.from(noAnswer.attributes.knativeerrordata ?? '', 'base64').toString()).toBe(
      'no answer within 100 ms',
    );
  });
});
