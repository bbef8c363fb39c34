// Faults at the broker: a subscriber that fails N times then succeeds gets exactly N+1 attempts,
// all with the same id and source; one that always fails gets exactly retry+1 attempts and one
// dead letter (Knative's e2e test: 13 attempts plus 1 dead letter for retry 12). Real HTTP
// servers on loopback, the broker's real backoff (linear, 10 ms), journaled to a temp dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../functions/_shared/log.js';
import { startBroker, type LocalBroker } from '../../events/broker/broker.js';
import type { TriggerSpec } from '../../events/broker/spec.js';
import { startSubscriber, type Respond, type Subscriber } from '../fakes/subscriber.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function subscriber(respond?: Respond): Promise<Subscriber> {
  const s = await startSubscriber(respond);
  cleanups.push(() => s.close());
  return s;
}

async function journaledBroker(triggers: TriggerSpec[]): Promise<LocalBroker> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kaskade-reliability-broker-'));
  const b = await startBroker({
    namespace: 'kaskade',
    brokers: [{ name: 'default' }],
    triggers,
    logger: quiet,
    stateDir,
  });
  cleanups.push(async () => {
    await b.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  return b;
}

let sent = 0;
async function send(b: LocalBroker): Promise<{ id: string; source: string }> {
  const event = { id: `retry-${++sent}`, source: '/kaskade/reliability' };
  const res = await fetch(b.url('kaskade', 'default'), {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': event.id,
      'ce-source': event.source,
      'ce-type': 'dev.kaskade.test.sent',
      'content-type': 'application/json',
    },
    body: '{"n":1}',
  });
  expect(res.status).toBe(202);
  return event;
}

const delivery = (retry: number, deadLetter?: string) => ({
  retry,
  backoffPolicy: 'linear' as const,
  backoffDelay: 'PT0.01S',
  ...(deadLetter === undefined ? {} : { deadLetterSink: { uri: deadLetter } }),
});

describe('broker retries', () => {
  it.each([0, 1, 3, 12])(
    'a subscriber failing %i time(s) and then succeeding gets exactly N+1 attempts, all with the same id and source',
    async (failures) => {
      const sub = await subscriber((_, i) => (i < failures ? { status: 503, body: 'not yet' } : { status: 200 }));
      const dls = await subscriber();
      const b = await journaledBroker([
        { name: 't', broker: 'default', subscriberUri: sub.url, delivery: delivery(12, dls.url) },
      ]);
      const event = await send(b);
      await sub.waitFor(failures + 1);
      await b.idle();
      expect(sub.received).toHaveLength(failures + 1);
      expect(
        new Set(sub.received.map((r) => `${String(r.headers['ce-source'])} ${String(r.headers['ce-id'])}`)),
      ).toEqual(new Set([`${event.source} ${event.id}`]));
      expect(dls.received).toHaveLength(0);
      expect(b.stats()).toMatchObject({ delivered: 1, deadLettered: 0, pending: 0 });
    },
  );

  it('a subscriber that always fails gets exactly retry+1 attempts and one dead letter (retry 12: 13 + 1)', async () => {
    const sub = await subscriber(() => ({ status: 500, body: 'always down' }));
    const dls = await subscriber();
    const b = await journaledBroker([
      { name: 't', broker: 'default', subscriberUri: sub.url, delivery: delivery(12, dls.url) },
    ]);
    const event = await send(b);
    const [dead] = await dls.waitFor(1);
    await b.idle();
    expect(sub.received).toHaveLength(13);
    expect(dls.received).toHaveLength(1);
    expect(dead?.headers['ce-id']).toBe(event.id);
    expect(dead?.headers['ce-source']).toBe(event.source);
    expect(dead?.headers['ce-knativeerrorcode']).toBe('500');
    expect(b.stats()).toMatchObject({ deadLettered: 1, pending: 0 });
  });

  it('20 events to a subscriber that fails every other attempt: each delivered once it succeeds, none lost', async () => {
    let n = 0;
    const sub = await subscriber(() => (n++ % 2 === 0 ? { status: 502 } : { status: 200 }));
    const b = await journaledBroker([{ name: 't', broker: 'default', subscriberUri: sub.url, delivery: delivery(12) }]);
    const ids = await Promise.all(Array.from({ length: 20 }, () => send(b)));
    await b.idle();
    const succeeded = new Set<string>();
    sub.received.forEach((r, i) => {
      if (i % 2 === 1) succeeded.add(String(r.headers['ce-id']));
    });
    expect(succeeded).toEqual(new Set(ids.map((e) => e.id)));
    expect(b.stats()).toMatchObject({ delivered: 20, deadLettered: 0, pending: 0 });
  });
});
