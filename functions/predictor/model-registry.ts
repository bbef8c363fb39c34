// The one served model and its replacement without downtime. A refresh loads the published
// model completely beside the current one, then swaps the reference in one assignment; the old
// model is disposed when the last request holding a lease on it releases it (reference count).
// Refreshes run one at a time; callers arriving while one waits to start share it.
import { UnavailableError } from '../_shared/errors.js';

export interface Disposable {
  dispose(): void;
}

export interface RegistrySource<M extends Disposable> {
  /** Identity (folder URL) of the model that should be served now. */
  resolve(): Promise<string>;
  /** Loads the model at that identity completely; must not leak when it throws. */
  load(identity: string): Promise<M>;
}

/** A hold on a model: the model stays alive until `release()` (idempotent). */
export interface Lease<M> {
  readonly model: M;
  release(): void;
}

export type RefreshOutcome<M> =
  | { readonly status: 'loaded'; readonly identity: string; readonly model: M; readonly ms: number }
  | { readonly status: 'unchanged'; readonly identity: string };

class Slot<M extends Disposable> {
  refs = 0;
  retired = false;
  disposed = false;
  constructor(
    readonly identity: string,
    readonly model: M,
  ) {}
}

export class ModelRegistry<M extends Disposable> {
  #current: Slot<M> | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #queued: Promise<RefreshOutcome<M>> | undefined;
  #closed = false;

  constructor(private readonly source: RegistrySource<M>) {}

  get ready(): boolean {
    return this.#current !== undefined;
  }

  /** The model requests get now, if any (no lease: for metadata only). */
  get current(): M | undefined {
    return this.#current?.model;
  }

  /** Holds the current model; UnavailableError when none is loaded yet. */
  acquire(): Lease<M> {
    const slot = this.#current;
    if (!slot) throw new UnavailableError('no model is loaded yet; try again shortly');
    slot.refs++;
    let released = false;
    return {
      model: slot.model,
      release: () => {
        if (released) return;
        released = true;
        slot.refs--;
        if (slot.retired && slot.refs === 0) this.#dispose(slot);
      },
    };
  }

  /** Runs `fn` with a lease on the current model, released whatever happens. */
  async use<T>(fn: (model: M) => Promise<T>): Promise<T> {
    const lease = this.acquire();
    try {
      return await fn(lease.model);
    } finally {
      lease.release();
    }
  }

  /** Loads the published model if it is not the one served; serialised and coalesced. */
  refresh(): Promise<RefreshOutcome<M>> {
    if (this.#queued) return this.#queued;
    const run = this.#tail.then(noop, noop).then(() => {
      this.#queued = undefined;
      return this.#refreshNow();
    });
    this.#queued = run;
    this.#tail = run;
    return run;
  }

  /** Stops serving: the current model is disposed once its last lease is released. */
  close(): void {
    this.#closed = true;
    const slot = this.#current;
    this.#current = undefined;
    if (slot) this.#retire(slot);
  }

  async #refreshNow(): Promise<RefreshOutcome<M>> {
    if (this.#closed) throw new UnavailableError('the model registry is closed');
    const identity = await this.source.resolve();
    if (this.#current?.identity === identity) return { status: 'unchanged', identity };
    const started = performance.now();
    const model = await this.source.load(identity);
    if (this.#closed) {
      model.dispose();
      throw new UnavailableError('the model registry closed while loading');
    }
    const previous = this.#current;
    this.#current = new Slot(identity, model);
    if (previous) this.#retire(previous);
    return { status: 'loaded', identity, model, ms: performance.now() - started };
  }

  #retire(slot: Slot<M>): void {
    slot.retired = true;
    if (slot.refs === 0) this.#dispose(slot);
  }

  #dispose(slot: Slot<M>): void {
    if (slot.disposed) return;
    slot.disposed = true;
    slot.model.dispose();
  }
}

function noop(): void {}
