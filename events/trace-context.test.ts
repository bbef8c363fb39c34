// W3C trace context on events: what an emitted event carries inside and outside a span, in
// binary and structured mode, and that the local broker delivers (and dead-letters) it unchanged.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../functions/_shared/log.js';
import {
  MAX_TRACESTATE_CHARS,
  newTraceparent,
  startTracing,
  traceIdOf,
  withSpan,
} from '../functions/_shared/observability/tracing.js';
import { startSubscriber } from '../test/fakes/subscriber.js';
import { startBroker } from './broker/index.js';
import { EVENT_TYPES, type ShardTrained } from './catalog.js';
import { createEvent, httpEmit, sourceFor, toHttpMessage } from './emit.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const trained: ShardTrained = {
  jobId: 'job-9',
  round: 1,
  shardIndex: 0,
  shards: 2,
  weightsUrl: 'file:///var/kaskade/jobs/job-9/rounds/1/shard-0.safetensors',
  exampleCount: 100,
  metrics: { loss: 0.1, accuracy: 0.9, samplesPerSec: 1000 },
};
const event = (extensions?: Record<string, string>) =>
  createEvent(EVENT_TYPES.shardTrained, trained, {
    source: sourceFor('shard-trainer'),
    ...(extensions ? { extensions } : {}),
  });

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

beforeAll(() => {
  startTracing({ serviceName: 'trace-test', exporter: 'none' });
});

describe('traceparent on emitted events', () => {
  it('continues the span the event is emitted in, across awaits', async () => {
    const headers = await withSpan({ traceparent: INCOMING }, 'handle', {}, async (span) => {
      await new Promise((r) => setTimeout(r, 5));
      const out = toHttpMessage(event()).headers;
      span.end();
      return out;
    });
    // No exporter here, so no span is recorded: the incoming context travels on as it came.
    expect(headers['ce-traceparent']).toBe(INCOMING);
  });

  it('gives every event of one request the same new trace when the request brought none', () => {
    const [a, b] = withSpan({}, 'handle', {}, (span) => {
      span.end();
      return [toHttpMessage(event()).headers['ce-traceparent'], toHttpMessage(event()).headers['ce-traceparent']];
    });
    expect(traceIdOf(a)).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(b)).toBe(traceIdOf(a));
  });

  it('starts a new trace for an event emitted outside any span', () => {
    const a = toHttpMessage(event()).headers['ce-traceparent'];
    const b = toHttpMessage(event()).headers['ce-traceparent'];
    expect(traceIdOf(a)).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(b)).not.toBe(traceIdOf(a));
  });

  it('keeps a traceparent the event already has', () => {
    const own = newTraceparent();
    withSpan({ traceparent: INCOMING }, 'handle', {}, (span) => {
      expect(toHttpMessage(event({ traceparent: own })).headers['ce-traceparent']).toBe(own);
      span.end();
    });
  });

  it('puts it in the JSON of a structured-mode event', () => {
    const body = withSpan({ traceparent: INCOMING }, 'handle', {}, (span) => {
      span.end();
      return toHttpMessage(event(), 'structured').body;
    });
    const parsed = JSON.parse(String(body)) as { traceparent?: string };
    expect(traceIdOf(parsed.traceparent)).toBe(traceIdOf(INCOMING));
  });

  it('passes a short tracestate on and drops one over the W3C bound', () => {
    for (const [tracestate, kept] of [
      ['kaskade=1', true],
      [`k=${'x'.repeat(MAX_TRACESTATE_CHARS)}`, false],
    ] as const) {
      const headers = withSpan({ traceparent: INCOMING, tracestate }, 'handle', {}, (span) => {
        span.end();
        return toHttpMessage(event()).headers;
      });
      expect(headers['ce-tracestate'], tracestate.slice(0, 20)).toBe(kept ? tracestate : undefined);
    }
  });

  it('travels through the broker to the subscriber and to the dead-letter sink', async () => {
    const subscriber = await startSubscriber();
    const refusing = await startSubscriber(() => ({ status: 500 }));
    const deadLetters = await startSubscriber();
    cleanups.push(
      () => subscriber.close(),
      () => refusing.close(),
      () => deadLetters.close(),
    );
    const broker = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: [
        { name: 'ok', broker: 'default', subscriberUri: subscriber.url },
        {
          name: 'failing',
          broker: 'default',
          subscriberUri: refusing.url,
          delivery: { retry: 0, deadLetterSink: { uri: deadLetters.url } },
        },
      ],
      logger: quiet,
    });
    cleanups.push(() => broker.close());
    const emit = httpEmit({ sinkUrl: broker.url('kaskade', 'default') });
    await withSpan({ traceparent: INCOMING }, 'handle', {}, async (span) => {
      await emit(event());
      span.end();
    });
    const [delivered] = await subscriber.waitFor(1, 30_000);
    const [dead] = await deadLetters.waitFor(1, 30_000);
    expect(traceIdOf(String(delivered?.headers['ce-traceparent']))).toBe(traceIdOf(INCOMING));
    expect(dead?.headers['ce-traceparent']).toBe(delivered?.headers['ce-traceparent']);
  });
});
