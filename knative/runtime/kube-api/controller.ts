// Knative's controller role: every service in the store is run by the runtime at its current
// generation, and its status is written back the way Knative writes it (Ready,
// ConfigurationsReady, RoutesReady with reasons; URL, revisions, traffic, observedGeneration).
// At start the manifests' services are put into the store (manifests win over saved copies).
import { isDeepStrictEqual } from 'node:util';
import type {
  KnativeCondition,
  KnativeService,
  KnativeServiceStatus,
} from '../../../functions/_shared/cluster/types.js';
import type { Logger } from '../../../functions/_shared/log.js';
import type { ServiceStore, StoreEvent } from './store.js';
import { rfc3339 } from './status.js';

/** What the controller needs from the runtime. */
export interface ServiceRunner {
  /** Runs `service` as `revision` (replacing what ran under its name); reports each pod's readiness or failure. */
  run(
    service: KnativeService,
    revision: string,
    events: { ready(): void; failed(message: string): void },
  ): Promise<void>;
  /** Drains and stops a service's workers. */
  stop(namespace: string, name: string): Promise<void>;
  /** The service's URL (for browsers and curl) and the address every HTTP client can use. */
  urls(namespace: string, name: string): { url: string; address: string };
}

export class ServiceController {
  private unsubscribe: (() => void) | undefined;
  private readonly work = new Set<Promise<unknown>>();
  /** Per service, the last deploy or stop queued: changes to one service apply one after another. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly store: ServiceStore,
    private readonly runner: ServiceRunner,
    private readonly logger: Logger,
  ) {}

  /** Puts the manifests' services into the store, drops manifest services no longer listed, runs everything. */
  async start(manifestServices: ReadonlyArray<{ namespace: string; service: KnativeService }>): Promise<void> {
    const listed = new Set(manifestServices.map((m) => `${m.namespace}/${m.service.metadata.name}`));
    for (const s of this.store.list()) {
      const ns = s.metadata.namespace ?? '';
      if (this.store.ownerOf(ns, s.metadata.name) === 'manifests' && !listed.has(`${ns}/${s.metadata.name}`))
        await this.store.delete(ns, s.metadata.name);
    }
    for (const { namespace, service } of manifestServices) {
      const current = this.store.get(namespace, service.metadata.name);
      const plain = {
        apiVersion: service.apiVersion,
        kind: service.kind,
        metadata: {
          name: service.metadata.name,
          ...(service.metadata.labels ? { labels: service.metadata.labels } : {}),
          ...(service.metadata.annotations ? { annotations: service.metadata.annotations } : {}),
        },
        spec: service.spec,
      };
      if (!current) await this.store.create(namespace, plain, 'manifests');
      else if (
        !isDeepStrictEqual(current.spec, plain.spec) ||
        this.store.ownerOf(namespace, service.metadata.name) !== 'manifests'
      )
        await this.store.update(namespace, { ...plain, metadata: { ...plain.metadata } }, 'manifests');
    }
    this.unsubscribe = this.store.subscribe((e) => this.onEvent(e));
    // Start waits until every service has its pool (not its pods), as the runtime always did.
    await Promise.all(this.store.list().map((s) => this.inOrder(s, () => this.deploy(s))));
  }

  /** Stops following the store; waits for status writes in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.allSettled([...this.work]);
  }

  private onEvent(e: StoreEvent): void {
    if (!e.specChanged) return;
    const ns = e.object.metadata.namespace ?? '';
    if (e.type === 'DELETED') {
      this.logger.info(`service ${ns}/${e.object.metadata.name} deleted through the API: draining`);
      this.track(this.inOrder(e.object, () => this.runner.stop(ns, e.object.metadata.name)));
    } else {
      const object = e.object;
      this.track(this.inOrder(object, () => this.deploy(object)));
    }
  }

  /**
   * Runs `step` after every earlier step for the same service. Deploying a revision awaits
   * before it replaces the running one, so two quick changes (min-scale 1, then 0, then 1)
   * deployed side by side could finish out of order and leave an older revision running under a
   * newer generation, whose status then never turns Ready.
   */
  private inOrder(s: KnativeService, step: () => Promise<void>): Promise<void> {
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name}`;
    const next = (this.queues.get(key) ?? Promise.resolve()).catch(() => undefined).then(step);
    const settled = next.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }

  private track(p: Promise<unknown>): void {
    const q = p
      .catch((err: unknown) => this.logger.error(`controller: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.work.delete(q));
    this.work.add(q);
  }

  private async deploy(s: KnativeService): Promise<void> {
    const ns = s.metadata.namespace ?? '';
    const name = s.metadata.name;
    const generation = s.metadata.generation ?? 1;
    const revision = `${name}-${String(generation).padStart(5, '0')}`;
    // Queued behind a change that a newer one has already replaced: only the newest runs.
    const stored = this.store.get(ns, name);
    if (stored === undefined || (stored.metadata.generation ?? 1) !== generation) return;
    const urls = this.runner.urls(ns, name);
    const write = async (status: KnativeServiceStatus): Promise<void> => {
      // A newer generation (or a delete) makes this revision's news irrelevant.
      if (this.store.get(ns, name)?.metadata.generation !== generation) return;
      await this.store.setStatus(ns, name, status);
    };
    let ready = false;
    await write(statusOf('Unknown', { generation, revision, urls, previous: s.status }));
    const failed = (message: string): void => {
      if (!ready) this.track(write(statusOf('False', { generation, revision, urls, previous: s.status, message })));
    };
    try {
      await this.runner.run(s, revision, {
        ready: () => {
          if (ready) return;
          ready = true;
          this.track(write(statusOf('True', { generation, revision, urls, previous: s.status })));
        },
        failed,
      });
    } catch (e) {
      this.logger.error(
        `service ${ns}/${name} (${revision}) cannot run: ${e instanceof Error ? e.message : String(e)}`,
      );
      failed(e instanceof Error ? e.message : String(e));
    }
  }
}

interface StatusInput {
  generation: number;
  revision: string;
  urls: { url: string; address: string };
  previous: KnativeServiceStatus | undefined;
  message?: string;
}

/** A Knative Service status for a revision that is starting (Unknown), serving (True) or failing (False). */
export function statusOf(state: 'True' | 'False' | 'Unknown', i: StatusInput): KnativeServiceStatus {
  const now = rfc3339(new Date());
  const cond = (
    type: string,
    status: KnativeCondition['status'],
    reason?: string,
    message?: string,
  ): KnativeCondition => ({
    type,
    status,
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
    lastTransitionTime: now,
  });
  const base: KnativeServiceStatus = { observedGeneration: i.generation, latestCreatedRevisionName: i.revision };
  if (state === 'True') {
    return {
      ...base,
      conditions: [cond('ConfigurationsReady', 'True'), cond('Ready', 'True'), cond('RoutesReady', 'True')],
      latestReadyRevisionName: i.revision,
      url: i.urls.url,
      address: { url: i.urls.address },
      traffic: [{ revisionName: i.revision, latestRevision: true, percent: 100 }],
    };
  }
  const keep = i.previous?.latestReadyRevisionName;
  const serving = keep ? { latestReadyRevisionName: keep, url: i.urls.url, address: { url: i.urls.address } } : {};
  if (state === 'Unknown') {
    const waiting = `Configuration "${i.revision.replace(/-\d{5}$/, '')}" is waiting for a Revision to become ready.`;
    return {
      ...base,
      ...serving,
      conditions: [
        cond('ConfigurationsReady', 'Unknown'),
        cond('Ready', 'Unknown', 'RevisionMissing', waiting),
        cond('RoutesReady', 'Unknown', 'RevisionMissing', waiting),
      ],
    };
  }
  const failed = `Revision "${i.revision}" failed with message: ${i.message ?? 'unknown error'}.`;
  return {
    ...base,
    ...serving,
    conditions: [
      cond('ConfigurationsReady', 'False', 'RevisionFailed', failed),
      cond('Ready', 'False', 'RevisionFailed', failed),
      cond('RoutesReady', 'False', 'RevisionMissing', failed),
    ],
  };
}
