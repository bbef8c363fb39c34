// Every published model, each in its own registry (hot swap + leases), loaded on first use or at
// start and unloaded when idle or beyond a memory budget, least recently used first (what
// KServe's ModelMesh does for many models on one server). The names come from the store: each
// `<name>/LATEST` under the models folder (or one fixed name for a single-model predictor).
import { NotFoundError, UnavailableError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import { MODEL_NAME } from './config.js';
import type { ServedModel } from './model-loader.js';
import { ModelRegistry, type Lease, type RefreshOutcome } from './model-registry.js';

/** Where models are published and how one is read. */
export interface PublishedModels {
  /** Names of the models published now (each has a LATEST pointer). */
  names(): Promise<string[]>;
  /** The folder URL the named model's LATEST points at; NotFoundError when it has none. */
  resolve(name: string): Promise<string>;
  load(folderUrl: string): Promise<ServedModel>;
}

export interface RepositoryOptions {
  published: PublishedModels;
  /** Most bytes of weights kept loaded (the model just loaded stays, even alone over it). */
  memoryBudgetBytes: number;
  /** Unload a model unused for this long (ms); 0 = never. */
  idleUnloadMs: number;
  logger: Logger;
  now?: () => number;
}

/** The repository extension's states (Triton's names). */
export type ModelState = 'READY' | 'LOADING' | 'UNAVAILABLE';

export interface IndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason: string;
}

export interface ReloadOutcome {
  name: string;
  outcome: RefreshOutcome<ServedModel>;
}

interface Entry {
  readonly name: string;
  readonly registry: ModelRegistry<ServedModel>;
  lastUsed: number;
  loading: Promise<RefreshOutcome<ServedModel>> | undefined;
}

export class ModelRepository {
  readonly #options: RepositoryOptions;
  readonly #entries = new Map<string, Entry>();
  /** Why the last load of a model failed, for the index (cleared by a load). */
  readonly #failures = new Map<string, string>();
  /** Models loaded at some point: loading published models skips them (one unloaded stays unloaded until used). */
  readonly #seen = new Set<string>();
  #closed = false;

  constructor(options: RepositoryOptions) {
    this.#options = options;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** Published and loaded models with their state, sorted by name. */
  async index(): Promise<IndexEntry[]> {
    const names = new Set([...(await this.#options.published.names()), ...this.#entries.keys()]);
    return [...names].sort().map((name) => this.#describe(name));
  }

  #describe(name: string): IndexEntry {
    const entry = this.#entries.get(name);
    const current = entry?.registry.current;
    if (current) return { name, version: current.version, state: 'READY', reason: '' };
    if (entry?.loading) return { name, state: 'LOADING', reason: 'loading' };
    return { name, state: 'UNAVAILABLE', reason: this.#failures.get(name) ?? 'not loaded' };
  }

  /** The loaded model of that name, if any (no lease: for metadata only). */
  current(name: string): ServedModel | undefined {
    return this.#entries.get(name)?.registry.current;
  }

  /** Names of the models loaded now. */
  loaded(): string[] {
    return [...this.#entries.values()].filter((e) => e.registry.ready).map((e) => e.name);
  }

  /** Bytes of weights loaded now. */
  loadedBytes(): number {
    let bytes = 0;
    for (const e of this.#entries.values()) bytes += e.registry.current?.bytes ?? 0;
    return bytes;
  }

  /**
   * Holds the named model, loading it first if it is not loaded (its first use). NotFoundError
   * for a name that is not published.
   */
  async acquire(name: string): Promise<Lease<ServedModel>> {
    checkName(name);
    const entry = this.#entries.get(name);
    if (!entry?.registry.ready) await this.load(name);
    const loaded = this.#entries.get(name);
    if (!loaded) throw new UnavailableError(`model "${name}" was unloaded while it loaded (memory budget); try again`);
    loaded.lastUsed = this.#now();
    return loaded.registry.acquire();
  }

  /**
   * Loads the named model, or re-reads its pointer when it is loaded (a newer version replaces
   * it); then unloads least recently used models beyond the memory budget.
   */
  async load(name: string): Promise<RefreshOutcome<ServedModel>> {
    checkName(name);
    const entry = this.#entry(name);
    entry.lastUsed = this.#now();
    try {
      const outcome = await this.#refresh(entry);
      this.#failures.delete(name);
      this.#seen.add(name);
      this.#enforceBudget(name);
      return outcome;
    } catch (e) {
      if (!entry.registry.ready) this.#drop(entry);
      if (e instanceof NotFoundError)
        throw new NotFoundError(`model "${name}" not found: it is not published (${e.message})`, { cause: e });
      this.#failures.set(name, (e as Error).message);
      throw e;
    }
  }

  /** Unloads the named model (requests holding it finish first); false when it was not loaded. */
  unload(name: string, why = 'asked to'): boolean {
    const entry = this.#entries.get(name);
    if (!entry) return false;
    this.#drop(entry);
    this.#options.logger.info(`unloaded model "${name}" (${why})`);
    return true;
  }

  /** Re-reads the pointer of every loaded model; a model whose pointer moved reloads. */
  async reloadLoaded(): Promise<ReloadOutcome[]> {
    const loaded = [...this.#entries.values()].filter((e) => e.registry.ready);
    const outcomes = await Promise.all(loaded.map(async (e) => ({ name: e.name, outcome: await this.#refresh(e) })));
    this.#enforceBudget();
    return outcomes;
  }

  /**
   * Loads, one at a time, every published model never loaded before (a model unloaded since
   * stays unloaded until it is used), while the memory budget has room; answers the names that failed.
   */
  async loadPublished(): Promise<{ loaded: ReloadOutcome[]; failed: string[] }> {
    const loaded: ReloadOutcome[] = [];
    const failed: string[] = [];
    for (const name of await this.#options.published.names()) {
      if (this.#seen.has(name) || this.#entries.get(name)?.registry.ready) continue;
      if (this.loadedBytes() >= this.#options.memoryBudgetBytes) break;
      try {
        loaded.push({ name, outcome: await this.load(name) });
      } catch (e) {
        failed.push(name);
        this.#options.logger.error(`loading model "${name}" failed: ${(e as Error).message}`);
      }
    }
    return { loaded, failed };
  }

  /** Unloads models unused for longer than the idle time. */
  unloadIdle(): string[] {
    const idle = this.#options.idleUnloadMs;
    if (idle <= 0) return [];
    const cutoff = this.#now() - idle;
    const gone = [...this.#entries.values()]
      .filter((e) => e.registry.ready && e.loading === undefined && e.lastUsed <= cutoff)
      .map((e) => e.name);
    for (const name of gone) this.unload(name, `unused for ${Math.round(idle / 1000)} s`);
    return gone;
  }

  /** Stops serving: every model is disposed once its last lease is released. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) this.#drop(entry);
  }

  #entry(name: string): Entry {
    let entry = this.#entries.get(name);
    if (entry) return entry;
    const { published } = this.#options;
    entry = {
      name,
      registry: new ModelRegistry<ServedModel>({
        resolve: () => published.resolve(name),
        load: (folderUrl) => published.load(folderUrl),
      }),
      lastUsed: this.#now(),
      loading: undefined,
    };
    if (this.#closed) entry.registry.close();
    this.#entries.set(name, entry);
    return entry;
  }

  async #refresh(entry: Entry): Promise<RefreshOutcome<ServedModel>> {
    const run = entry.registry.refresh();
    entry.loading = run;
    try {
      return await run;
    } finally {
      if (entry.loading === run) entry.loading = undefined;
    }
  }

  #drop(entry: Entry): void {
    if (this.#entries.get(entry.name) === entry) this.#entries.delete(entry.name);
    entry.registry.close();
  }

  /** Least recently used first, never `keep` (the model a request is waiting for). */
  #enforceBudget(keep?: string): void {
    const budget = this.#options.memoryBudgetBytes;
    let bytes = this.loadedBytes();
    if (bytes <= budget) return;
    const candidates = [...this.#entries.values()]
      .filter((e) => e.name !== keep && e.registry.ready)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of candidates) {
      if (bytes <= budget) break;
      bytes -= entry.registry.current?.bytes ?? 0;
      this.unload(entry.name, `over the memory budget of ${Math.round(budget / 1048576)} MiB, least recently used`);
    }
    if (bytes > budget)
      this.#options.logger.warn(
        `models loaded hold ${Math.round(bytes / 1048576)} MiB, over the budget of ${Math.round(budget / 1048576)} MiB`,
      );
  }
}

function checkName(name: string): void {
  if (!MODEL_NAME.test(name))
    throw new NotFoundError(`model "${name}" not found: model names match ${MODEL_NAME.source}`);
}
