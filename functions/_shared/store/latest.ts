// The LATEST pointer of a prefix (e.g. gs://bucket/models/mnist/LATEST → "round-0004"): written
// last, after the artifact it names is complete, and only by compare-and-swap, so a reader that
// follows it always finds a whole artifact.
import { ConflictError, NotFoundError } from '../errors.js';
import type { Store } from './types.js';
import { joinStoreUrl } from './url.js';

export const LATEST = 'LATEST';

export interface PublishOptions {
  /**
   * Publish only if the pointer still says this (undefined: only if there is none yet);
   * ConflictError otherwise. Without it, the newest publish wins after re-reading on conflict.
   */
  expected?: string | undefined;
  /** Re-reads after a lost race when no `expected` is given (default 5). */
  attempts?: number;
}

export async function publishLatest(
  store: Store,
  prefixUrl: string,
  value: string,
  options: PublishOptions = {},
): Promise<void> {
  const pointer = joinStoreUrl(prefixUrl, LATEST);
  if ('expected' in options) {
    await store.swapPointer(pointer, options.expected, value);
    return;
  }
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      await store.swapPointer(pointer, await readPointer(store, pointer), value);
      return;
    } catch (e) {
      if (!(e instanceof ConflictError) || attempt >= attempts) throw e;
    }
  }
}

/** The pointer's value, or undefined when nothing was published under the prefix yet. */
export async function readLatest(store: Store, prefixUrl: string): Promise<string | undefined> {
  return readPointer(store, joinStoreUrl(prefixUrl, LATEST));
}

async function readPointer(store: Store, pointer: string): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await store.read(pointer, { maxBytes: 64 * 1024 }));
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}
