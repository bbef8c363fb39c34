// The API's etcd: Knative Services by namespace and name, each write giving a new
// resourceVersion (one counter for the store) and, when the spec changes, a new generation.
// Every change is an event for watches (the last 1000 are kept for `?resourceVersion=` resumes)
// and is written to one JSON file in the state folder before the write is acknowledged.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../../functions/_shared/errors.js';
import type { KnativeService, KnativeServiceStatus } from '../../../functions/_shared/cluster/types.js';
import { rfc3339 } from './status.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface StoreEvent {
  type: EventType;
  object: KnativeService;
  /** The store's version after this event. */
  version: number;
  /** The spec changed (or the object is new or gone): the runtime has work to do. */
  specChanged: boolean;
}

/** Who wrote the object last: the manifests at start, or a client of the API. */
export type Owner = 'manifests' | 'api';

interface Entry {
  object: KnativeService;
  owner: Owner;
}

interface SavedState {
  version: number;
  services: Entry[];
}

const HISTORY = 1_000;

export class ServiceStore {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private readonly history: StoreEvent[] = [];
  private version = 0;
  private saving: Promise<void> = Promise.resolve();
  private readonly pending: StoreEvent[] = [];
  private dispatching = false;

  private constructor(private readonly file: string) {}

  /** The store as it was saved in `file` (empty when there is none). */
  static async open(file: string): Promise<ServiceStore> {
    const store = new ServiceStore(file);
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (text !== null) {
      const saved = JSON.parse(text) as SavedState;
      store.version = saved.version;
      for (const e of saved.services)
        store.entries.set(keyOf(e.object.metadata.namespace ?? 'default', e.object.metadata.name), e);
    }
    return store;
  }

  get resourceVersion(): string {
    return String(this.version);
  }

  get(namespace: string, name: string): KnativeService | undefined {
    return this.entries.get(keyOf(namespace, name))?.object;
  }

  ownerOf(namespace: string, name: string): Owner | undefined {
    return this.entries.get(keyOf(namespace, name))?.owner;
  }

  /** Every service, or a namespace's. */
  list(namespace?: string): KnativeService[] {
    const out: KnativeService[] = [];
    for (const e of this.entries.values())
      if (namespace === undefined || e.object.metadata.namespace === namespace) out.push(e.object);
    return out.sort((a, b) =>
      keyOf(a.metadata.namespace ?? '', a.metadata.name).localeCompare(
        keyOf(b.metadata.namespace ?? '', b.metadata.name),
      ),
    );
  }

  async create(namespace: string, service: KnativeService, owner: Owner): Promise<KnativeService> {
    const key = keyOf(namespace, service.metadata.name);
    if (this.entries.has(key))
      throw new AlreadyExistsError(`services.${GROUP} "${service.metadata.name}" already exists`);
    const version = this.next();
    const object: KnativeService = {
      ...service,
      metadata: {
        ...service.metadata,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(version),
        generation: 1,
        creationTimestamp: rfc3339(new Date()),
      },
      status: {},
    };
    this.entries.set(key, { object, owner });
    await this.commit({ type: 'ADDED', object, version, specChanged: true });
    return object;
  }

  /**
   * Replaces metadata (labels, annotations) and spec; status is the controller's and is kept.
   * A `resourceVersion` in the new object must be the current one (else 409 Conflict).
   */
  async update(namespace: string, service: KnativeService, owner: Owner): Promise<KnativeService> {
    const key = keyOf(namespace, service.metadata.name);
    const current = this.entries.get(key);
    if (!current) throw new NotFoundError(`services.${GROUP} "${service.metadata.name}" not found`);
    const rv = service.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.object.metadata.resourceVersion) {
      throw new ConflictError(
        `Operation cannot be fulfilled on services.${GROUP} "${service.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const specChanged = !isDeepStrictEqual(current.object.spec, service.spec);
    const sameMeta =
      isDeepStrictEqual(current.object.metadata.labels ?? {}, service.metadata.labels ?? {}) &&
      isDeepStrictEqual(current.object.metadata.annotations ?? {}, service.metadata.annotations ?? {});
    if (!specChanged && sameMeta) return current.object;
    const version = this.next();
    const generation = (current.object.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    const metadata = { ...current.object.metadata, resourceVersion: String(version), generation };
    delete metadata.labels;
    delete metadata.annotations;
    const object: KnativeService = {
      ...service,
      metadata: {
        ...metadata,
        ...(service.metadata.labels ? { labels: service.metadata.labels } : {}),
        ...(service.metadata.annotations ? { annotations: service.metadata.annotations } : {}),
      },
      status: current.object.status ?? {},
    };
    this.entries.set(key, { object, owner });
    await this.commit({ type: 'MODIFIED', object, version, specChanged });
    return object;
  }

  /** The controller's write: status only, no precondition. Undefined when the service is gone. */
  async setStatus(namespace: string, name: string, status: KnativeServiceStatus): Promise<KnativeService | undefined> {
    const key = keyOf(namespace, name);
    const current = this.entries.get(key);
    if (!current || isDeepStrictEqual(current.object.status, status)) return current?.object;
    const version = this.next();
    const object: KnativeService = {
      ...current.object,
      metadata: { ...current.object.metadata, resourceVersion: String(version) },
      status,
    };
    this.entries.set(key, { ...current, object });
    await this.commit({ type: 'MODIFIED', object, version, specChanged: false });
    return object;
  }

  async delete(namespace: string, name: string): Promise<KnativeService> {
    const key = keyOf(namespace, name);
    const current = this.entries.get(key);
    if (!current) throw new NotFoundError(`services.${GROUP} "${name}" not found`);
    this.entries.delete(key);
    const version = this.next();
    const object: KnativeService = {
      ...current.object,
      metadata: { ...current.object.metadata, resourceVersion: String(version) },
    };
    await this.commit({ type: 'DELETED', object, version, specChanged: true });
    return object;
  }

  /** Calls `listener` on every later change; returns the unsubscribe. */
  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `version`, or null when they are no longer kept (the client must list again). */
  since(version: number): StoreEvent[] | null {
    if (version >= this.version) return [];
    const first = this.history[0];
    if (!first || first.version > version + 1) return null;
    return this.history.filter((e) => e.version > version);
  }

  /** Resolves once every write so far is on disk. */
  flushed(): Promise<void> {
    return this.saving;
  }

  private next(): number {
    this.version += 1;
    return this.version;
  }

  private async commit(event: StoreEvent): Promise<void> {
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
    // A listener that writes (the controller) must not let its event overtake this one.
    this.pending.push(event);
    if (!this.dispatching) {
      this.dispatching = true;
      try {
        for (let e = this.pending.shift(); e; e = this.pending.shift()) for (const l of this.listeners) l(e);
      } finally {
        this.dispatching = false;
      }
    }
    const snapshot: SavedState = { version: this.version, services: [...this.entries.values()] };
    const write = this.saving.then(() => save(this.file, snapshot));
    this.saving = write.catch(() => undefined);
    await write;
  }
}

const GROUP = 'serving.knative.dev';

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

async function save(file: string, state: SavedState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, file);
}
