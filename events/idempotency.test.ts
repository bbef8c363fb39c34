import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../functions/_shared/errors.js';
import { FileStore } from '../functions/_shared/store/index.js';
import { GcsStore } from '../functions/_shared/store/gcs-store.js';
import { FakeGcsServer } from '../test/fakes/gcs-server.js';
import { memoryIdempotency, storeIdempotency, type Idempotency } from './idempotency.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fileStore(): Promise<{ store: FileStore; prefix: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-idem-'));
  dirs.push(dir);
  const root = pathToFileURL(dir).href;
  return { store: new FileStore([root]), prefix: `${root}/events/aggregator`, dir };
}

function counter(value = 'done', delayMs = 20) {
  let runs = 0;
  return {
    runs: () => runs,
    handler: async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return value;
    },
  };
}

/** A handler that says when it has started (its claim is taken) and finishes only when released. */
function gated(value: string): { handler: () => Promise<string>; started: Promise<void>; release: () => void } {
  let begin = (): void => undefined;
  let finish = (): void => undefined;
  const started = new Promise<void>((resolve) => (begin = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    handler: async () => {
      begin();
      await done;
      return value;
    },
    started,
    release: () => finish(),
  };
}

const key = { source: '/kaskade/shard-trainer', id: 'job-1/1/0' };

describe.each<{ name: string; make: () => Promise<Idempotency<string>> }>([
  { name: 'memory', make: () => Promise.resolve(memoryIdempotency<string>()) },
  {
    name: 'store',
    make: async () => {
      const { store, prefix } = await fileStore();
      return storeIdempotency<string>(store, { prefix });
    },
  },
])('$name idempotency', ({ make }) => {
  it('runs the first delivery and skips the second', async () => {
    const idem = await make();
    const c = counter();
    expect(await idem.once(key, c.handler)).toEqual({ duplicate: false, value: 'done' });
    expect((await idem.once(key, c.handler)).duplicate).toBe(true);
    expect(c.runs()).toBe(1);
  });

  it('concurrent duplicates run the handler once and share its value', async () => {
    const idem = await make();
    const c = counter('shared', 50);
    const results = await Promise.all([
      idem.once(key, c.handler),
      idem.once(key, c.handler),
      idem.once(key, c.handler),
    ]);
    expect(c.runs()).toBe(1);
    expect(results.map((r) => r.value)).toEqual(['shared', 'shared', 'shared']);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it('a failed run is forgotten, so the redelivery runs again', async () => {
    const idem = await make();
    await expect(idem.once(key, () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    const c = counter();
    expect(await idem.once(key, c.handler)).toEqual({ duplicate: false, value: 'done' });
  });

  it('the same id from another source is another event', async () => {
    const idem = await make();
    const c = counter();
    await idem.once(key, c.handler);
    await idem.once({ ...key, source: '/kaskade/other' }, c.handler);
    expect(c.runs()).toBe(2);
  });
});

describe('memory idempotency', () => {
  it('forgets the least recently used beyond its capacity', async () => {
    const idem = memoryIdempotency<string>(2);
    const c = counter('v', 0);
    for (const id of ['a', 'b', 'a', 'c', 'a', 'b']) await idem.once({ source: 's', id }, c.handler);
    // a, b run; a is a duplicate (and refreshed); c evicts b; a is still kept; b runs again.
    expect(c.runs()).toBe(4);
  });
});

describe('store idempotency', () => {
  it('survives a restart (scale to zero): a new instance on the same store skips the event', async () => {
    const { store, prefix } = await fileStore();
    const c = counter();
    await storeIdempotency<string>(store, { prefix }).once(key, c.handler);
    const afterRestart = await storeIdempotency<string>(store, { prefix }).once(key, c.handler);
    expect(afterRestart).toEqual({ duplicate: true, value: undefined });
    expect(c.runs()).toBe(1);
  });

  it('a second replica gets 503 while the first is still handling the event', async () => {
    const { store, prefix } = await fileStore();
    const held = gated('first');
    const first = storeIdempotency<string>(store, { prefix }).once(key, held.handler);
    await held.started;
    await expect(storeIdempotency<string>(store, { prefix }).once(key, counter().handler)).rejects.toThrow(
      UnavailableError,
    );
    held.release();
    expect(await first).toEqual({ duplicate: false, value: 'first' });
  });

  it('takes over a stale claim left by a crashed replica', async () => {
    const { store, prefix } = await fileStore();
    let now = 1_000_000;
    const crashed = storeIdempotency<string>(store, { prefix, now: () => now, claimTtlMs: 60_000 });
    const hung = gated('never'); // never released: the pod died
    void crashed.once(key, hung.handler);
    await hung.started;
    const other = storeIdempotency<string>(store, { prefix, now: () => now, claimTtlMs: 60_000 });
    await expect(other.once(key, counter().handler)).rejects.toThrow(UnavailableError);
    now += 61_000;
    const c = counter('recovered');
    expect(await other.once(key, c.handler)).toEqual({ duplicate: false, value: 'recovered' });
  });

  it("on gs://, a claim whose write committed but whose answer was lost is its own, not another replica's", async () => {
    const fake = await FakeGcsServer.start();
    try {
      const root = 'gs://kaskade-idem/events';
      const store = new GcsStore([root], {
        apiEndpoint: fake.endpoint,
        maxRetries: 3,
        maxRetryDelayMs: 1000,
        requestTimeoutMs: 5000,
      });
      fake.loseAnswerNext(1, (r) => r.method === 'POST' && (r.query.name ?? '').endsWith('.claim'));
      const c = counter();
      expect(await storeIdempotency<string>(store, { prefix: root }).once(key, c.handler)).toEqual({
        duplicate: false,
        value: 'done',
      });
      expect(c.runs()).toBe(1);
    } finally {
      await fake.close();
    }
  });

  it('keeps markers under the prefix with names that are safe in any store', async () => {
    const { store, prefix, dir } = await fileStore();
    await storeIdempotency<string>(store, { prefix }).once(
      { source: '/weird source?', id: '../../etc/passwd' },
      counter().handler,
    );
    const names = await readdir(join(dir, 'events', 'aggregator'));
    expect(names.filter((n) => !n.startsWith('.')).sort()).toEqual([
      expect.stringMatching(/^[0-9a-f]{64}\.claim$/),
      expect.stringMatching(/^[0-9a-f]{64}\.done$/),
    ]);
  });
});
