import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError } from '../_shared/errors.js';
import { ModelRegistry, type RegistrySource } from './model-registry.js';

class FakeModel {
  disposed = 0;
  constructor(readonly identity: string) {}
  dispose(): void {
    this.disposed++;
  }
}

/** A source whose published identity the test moves, and whose loads it can hold open. */
class FakeSource implements RegistrySource<FakeModel> {
  published: string | undefined;
  loads: string[] = [];
  gate: Promise<void> = Promise.resolve();
  models = new Map<string, FakeModel>();
  private loading = new Set<() => void>();
  /** Resolves once `load(identity)` has been called (it may still wait at the gate). */
  loadStarted(identity: string): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.loads.includes(identity)) return;
        this.loading.delete(check);
        resolve();
      };
      this.loading.add(check);
      check();
    });
  }
  resolve(): Promise<string> {
    if (this.published === undefined) return Promise.reject(new NotFoundError('nothing published'));
    return Promise.resolve(this.published);
  }
  async load(identity: string): Promise<FakeModel> {
    this.loads.push(identity);
    for (const check of [...this.loading]) check();
    await this.gate;
    const model = new FakeModel(identity);
    this.models.set(identity, model);
    return model;
  }
}

describe('ModelRegistry', () => {
  it('is not ready and refuses leases before the first load', async () => {
    const source = new FakeSource();
    const registry = new ModelRegistry(source);
    expect(registry.ready).toBe(false);
    expect(() => registry.acquire()).toThrow(UnavailableError);
    await expect(registry.refresh()).rejects.toBeInstanceOf(NotFoundError);
    expect(registry.ready).toBe(false);
  });

  it('loads, then answers unchanged while the pointer stays', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    expect((await registry.refresh()).status).toBe('loaded');
    expect((await registry.refresh()).status).toBe('unchanged');
    expect(source.loads).toEqual(['a']);
    expect(registry.current?.identity).toBe('a');
  });

  it('swaps atomically and disposes the old model only after its last lease', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    const first = registry.acquire();
    const second = registry.acquire();
    source.published = 'b';
    await registry.refresh();
    const a = source.models.get('a');
    expect(registry.current?.identity).toBe('b');
    expect(first.model.identity).toBe('a');
    expect(a?.disposed).toBe(0);
    first.release();
    first.release(); // idempotent: must not count twice
    expect(a?.disposed).toBe(0);
    second.release();
    expect(a?.disposed).toBe(1);
    expect(source.models.get('b')?.disposed).toBe(0);
  });

  it('disposes a replaced model at once when nobody holds it', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    source.published = 'b';
    await registry.refresh();
    expect(source.models.get('a')?.disposed).toBe(1);
  });

  it('keeps serving the old model while the new one loads', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    let open!: () => void;
    source.gate = new Promise((resolve) => (open = resolve));
    source.published = 'b';
    const pending = registry.refresh();
    await source.loadStarted('b');
    expect(registry.current?.identity).toBe('a');
    const lease = registry.acquire();
    open();
    await pending;
    expect(registry.current?.identity).toBe('b');
    expect(lease.model.identity).toBe('a');
    lease.release();
    expect(source.models.get('a')?.disposed).toBe(1);
  });

  it('runs refreshes one at a time and coalesces those waiting to start', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    let open!: () => void;
    source.gate = new Promise((resolve) => (open = resolve));
    const running = registry.refresh();
    await source.loadStarted('a');
    source.published = 'b';
    const waiting = [registry.refresh(), registry.refresh(), registry.refresh()];
    expect(waiting[1]).toBe(waiting[0]);
    open();
    await running;
    const outcomes = await Promise.all(waiting);
    expect(outcomes.map((o) => o.status)).toEqual(['loaded', 'loaded', 'loaded']);
    // One load for "a" and one for "b", not one per caller.
    expect(source.loads).toEqual(['a', 'b']);
  });

  it('keeps the old model when a load fails', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    source.gate = Promise.reject(new Error('disk on fire'));
    source.published = 'b';
    await expect(registry.refresh()).rejects.toThrow('disk on fire');
    expect(registry.current?.identity).toBe('a');
    source.gate = Promise.resolve();
    expect((await registry.refresh()).status).toBe('loaded');
  });

  it('releases the lease when the work throws', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    await expect(registry.use(() => Promise.reject(new Error('bad request')))).rejects.toThrow('bad request');
    source.published = 'b';
    await registry.refresh();
    expect(source.models.get('a')?.disposed).toBe(1);
  });

  it('disposes the current model on close once its lease ends', async () => {
    const source = new FakeSource();
    source.published = 'a';
    const registry = new ModelRegistry(source);
    await registry.refresh();
    const lease = registry.acquire();
    registry.close();
    expect(registry.ready).toBe(false);
    expect(source.models.get('a')?.disposed).toBe(0);
    lease.release();
    expect(source.models.get('a')?.disposed).toBe(1);
  });
});
