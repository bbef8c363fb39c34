// Receiver-side idempotency: the broker delivers at least once, so a handler runs once per
// event identity (`source` + `id`). Two implementations: an in-memory LRU for one process,
// and one backed by marker objects in a Store, which survives scale-to-zero and is shared by
// every replica of a service.
import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, UnavailableError } from '../functions/_shared/errors.js';
import type { Store } from '../functions/_shared/store/types.js';

export interface EventKey {
  readonly source: string;
  readonly id: string;
}

/**
 * The first delivery runs the handler and gets its value; a duplicate does not run it and gets
 * the first value when this process still has it (`undefined` otherwise).
 */
export type Once<T> =
  { readonly duplicate: false; readonly value: T } | { readonly duplicate: true; readonly value: T | undefined };

export interface Idempotency<T = void> {
  /**
   * Runs `handler` unless this event was already handled. A concurrent duplicate waits for the
   * first run and shares its outcome; a failed run is forgotten, so a redelivery runs again.
   */
  once(key: EventKey, handler: () => Promise<T>): Promise<Once<T>>;
}

function keyOf({ source, id }: EventKey): string {
  return `${source}\n${id}`;
}

/** One in-flight run per key within this process: concurrent duplicates join the first run. */
class InFlight<R> {
  private readonly running = new Map<string, Promise<R>>();

  async join(key: string, start: () => Promise<R>): Promise<{ joined: boolean; value: R }> {
    const current = this.running.get(key);
    if (current !== undefined) return { joined: true, value: await current };
    const run = start();
    this.running.set(key, run);
    try {
      return { joined: false, value: await run };
    } finally {
      this.running.delete(key);
    }
  }
}

/** Remembers the last `capacity` handled events of this process (and their values). */
export function memoryIdempotency<T = void>(capacity = 10_000): Idempotency<T> {
  const done = new Map<string, { value: T }>();
  const inFlight = new InFlight<T>();
  return {
    async once(key, handler) {
      const k = keyOf(key);
      const hit = done.get(k);
      if (hit !== undefined) {
        done.delete(k);
        done.set(k, hit); // refresh its place in the LRU order
        return { duplicate: true, value: hit.value };
      }
      const { joined, value } = await inFlight.join(k, handler);
      if (joined) return { duplicate: true, value };
      done.set(k, { value });
      if (done.size > capacity) {
        const oldest = done.keys().next();
        if (oldest.done !== true) done.delete(oldest.value);
      }
      return { duplicate: false, value };
    },
  };
}

export interface StoreIdempotencyOptions {
  /** Folder URL for the markers, e.g. `file:///var/kaskade/events/splitter`. */
  readonly prefix: string;
  /** A claim older than this is taken to belong to a crashed run and is taken over. */
  readonly claimTtlMs?: number;
  readonly now?: () => number;
}

interface Claim {
  readonly owner: string;
  readonly at: number;
}

/**
 * Durable markers in a Store: `<prefix>/<sha256>.claim` is created (write-if-absent) before
 * the handler runs and `<sha256>.done` after it succeeds; a failed run deletes its claim.
 * A live claim held by another replica answers UnavailableError (503), which the broker
 * retries. Markers are tiny and are kept; expire them with a bucket lifecycle rule if needed.
 */
export function storeIdempotency<T = void>(store: Store, options: StoreIdempotencyOptions): Idempotency<T> {
  const prefix = options.prefix.replace(/\/+$/, '');
  const ttl = options.claimTtlMs ?? 15 * 60_000;
  const now = options.now ?? Date.now;
  const owner = randomUUID();
  const inFlight = new InFlight<Once<T>>();
  const encode = (claim: Claim) => JSON.stringify(claim);

  async function claim(url: string, key: EventKey): Promise<void> {
    const mine = encode({ owner, at: now() });
    try {
      await store.write(url, Buffer.from(mine), { ifAbsent: true, contentType: 'application/json' });
      return;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
    const held = await readText(store, url);
    // A retried create whose first attempt committed (its answer lost) meets its own claim.
    if (held === mine) return;
    if (held === undefined) {
      // The other run failed and released its claim between our two calls: claim it now.
      await store.swapPointer(url, undefined, mine);
      return;
    }
    const at = parseClaim(held)?.at ?? 0;
    if (now() - at < ttl) {
      throw new UnavailableError(`event ${key.source} ${key.id} is being handled by another replica; retry later`);
    }
    await store.swapPointer(url, held, mine); // a stale claim from a crashed run: take it over
  }

  async function handleOnce(key: EventKey, base: string, handler: () => Promise<T>): Promise<Once<T>> {
    const doneUrl = `${base}.done`;
    if (await store.exists(doneUrl)) return { duplicate: true, value: undefined };
    const claimUrl = `${base}.claim`;
    await claim(claimUrl, key);
    let value: T;
    try {
      value = await handler();
    } catch (e) {
      await store.delete(claimUrl);
      throw e;
    }
    try {
      await store.write(doneUrl, Buffer.from(JSON.stringify({ source: key.source, id: key.id, at: now() })), {
        ifAbsent: true,
      });
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
    return { duplicate: false, value };
  }

  return {
    async once(key, handler) {
      const base = `${prefix}/${createHash('sha256').update(keyOf(key)).digest('hex')}`;
      const { joined, value: first } = await inFlight.join(base, () => handleOnce(key, base, handler));
      return joined ? { duplicate: true, value: first.value } : first;
    },
  };
}

async function readText(store: Store, url: string): Promise<string | undefined> {
  try {
    return Buffer.from(await store.read(url)).toString('utf8');
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

function parseClaim(text: string): Claim | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'at' in parsed && 'owner' in parsed) {
      const { at, owner } = parsed;
      if (typeof at === 'number' && typeof owner === 'string') return { at, owner };
    }
  } catch {
    // An unreadable claim counts as stale (at = 0), so it gets taken over rather than blocking forever.
  }
  return undefined;
}
