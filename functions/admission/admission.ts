// Admission's decision: admit a client to the edge (make sure the type's service exists, raise
// its min-scale, wait for Ready with a deadline) or send it to the centre. The session table
// holds the leases; every change of a type's session count is written to its service's
// min-scale by one queue per type, so concurrent admissions never write stale counts.
import type { Cluster, KnativeService } from '../_shared/cluster/types.js';
import { NotFoundError, TimeoutError, UnavailableError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import { EDGE_TYPES, nodeCapacity, type EdgeType } from './capacity.js';
import type { AdmissionConfig } from './config.js';
import { MIN_SCALE, edgeServiceManifest, edgeServiceName, serviceEndpoint } from './edge-service.js';
import { SessionTable, type Session } from './sessions.js';

/** Seed-compatible answer of `/app-service`, plus the lease a client must keep renewing. */
export interface AdmissionAnswer {
  url: string;
  service_port: number;
  offloading: 0 | 1;
  type: EdgeType;
  clientID: string;
  /** Seconds the session lives without traffic (0 when offloaded: no session here). */
  leaseSeconds: number;
}

export interface AdmissionStatus {
  capacityRule: AdmissionConfig['capacityRule'];
  capacity: number | null;
  sessions: Record<EdgeType, number>;
}

export interface AdmissionDeps {
  config: AdmissionConfig;
  cluster: Cluster;
  logger?: Logger;
  now?: () => number;
}

export class Admission {
  readonly sessions: SessionTable;
  private readonly config: AdmissionConfig;
  private readonly cluster: Cluster;
  private readonly logger: Logger | undefined;
  private readonly scaleQueue = new Map<EdgeType, Promise<KnativeService>>();
  private readonly scaleWaiting = new Map<EdgeType, Promise<KnativeService>>();

  constructor(deps: AdmissionDeps) {
    this.config = deps.config;
    this.cluster = deps.cluster;
    this.logger = deps.logger;
    this.sessions = new SessionTable(deps.config.leaseMs, deps.now);
  }

  async admit(type: EdgeType, clientId: string): Promise<AdmissionAnswer> {
    if (this.config.capacityRule === 'none') return this.serve(type, clientId, await this.ensureReady(type));
    const capacity = nodeCapacity(await this.cluster.listNodes(), this.config.nodeWeights, this.config.nodeLabel);
    // From here to the reservation nothing awaits: the check and the count are one step.
    const reservation = this.sessions.reserve(clientId, type, capacity);
    if (!reservation.admitted) return this.offload(type, clientId, capacity);
    try {
      const service = await this.ensureReady(type);
      return this.serve(type, clientId, service);
    } catch (e) {
      if (!reservation.renewed) {
        this.sessions.release(clientId, type);
        this.rescaleInBackground(type);
      }
      throw e;
    }
  }

  /** Renews the client's leases (one type or all); NotFoundError when it holds none. */
  renew(clientId: string, type?: EdgeType): Session[] {
    const renewed = this.sessions.renew(clientId, type);
    if (renewed.length === 0) throw new NotFoundError(`client ${clientId} holds no ${type ?? 'edge'} session`);
    return renewed;
  }

  /** Ends the client's sessions and gives their warm pods back; the sessions ended. */
  async disconnect(clientId: string, type?: EdgeType): Promise<Session[]> {
    const released = this.sessions.release(clientId, type);
    await Promise.all(distinctTypes(released).map((t) => this.rescale(t)));
    return released;
  }

  /** Ends sessions whose lease ran out (called on a timer) and lowers min-scale to match. */
  async sweep(): Promise<Session[]> {
    const expired = this.sessions.expire();
    for (const s of expired) this.logger?.info(`lease of ${s.clientId} (${s.type}) expired`);
    await Promise.all(distinctTypes(expired).map((t) => this.rescale(t)));
    return expired;
  }

  /** Sweeps expired leases every quarter lease (at most every 5 s) until `stop()`; the timer never keeps the process alive. */
  startSweeping(): { stop(): void } {
    const timer = setInterval(
      () => {
        this.sweep().catch((e: unknown) => this.logger?.warn(`lease sweep failed: ${(e as Error).message}`));
      },
      Math.min(5_000, Math.max(50, this.config.leaseMs / 4)),
    );
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  async status(): Promise<AdmissionStatus> {
    const capacity =
      this.config.capacityRule === 'none'
        ? null
        : nodeCapacity(await this.cluster.listNodes(), this.config.nodeWeights, this.config.nodeLabel);
    const sessions = Object.fromEntries(EDGE_TYPES.map((t) => [t, this.sessions.count(t)])) as Record<EdgeType, number>;
    return { capacityRule: this.config.capacityRule, capacity, sessions };
  }

  private async ensureReady(type: EdgeType): Promise<KnativeService> {
    await this.rescale(type);
    const name = edgeServiceName(type);
    try {
      return await this.cluster.waitReady(name, { timeoutMs: this.config.readyTimeoutMs });
    } catch (e) {
      if (e instanceof TimeoutError)
        throw new UnavailableError(`${name} was not Ready within ${this.config.readyTimeoutMs} ms; try again`, {
          cause: e,
        });
      throw e;
    }
  }

  /**
   * Makes the type's service exist with min-scale = its open sessions, read when the write runs.
   * Writes for one type run one after another, so the last write always carries the newest count;
   * callers that arrive while a write is still waiting to start share it (each min-scale change is
   * a new revision on Knative, so a burst of admissions makes one change, not one each).
   */
  private rescale(type: EdgeType): Promise<KnativeService> {
    const waiting = this.scaleWaiting.get(type);
    if (waiting !== undefined) return waiting;
    const previous = this.scaleQueue.get(type) ?? Promise.resolve(undefined);
    const next = previous
      .catch(() => undefined)
      .then(() => {
        this.scaleWaiting.delete(type);
        return this.writeScale(type);
      });
    this.scaleWaiting.set(type, next);
    this.scaleQueue.set(type, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.scaleQueue.get(type) === next) this.scaleQueue.delete(type);
      });
    return next;
  }

  private rescaleInBackground(type: EdgeType): void {
    this.rescale(type).catch((e: unknown) =>
      this.logger?.warn(`lowering ${edgeServiceName(type)} min-scale failed: ${(e as Error).message}`),
    );
  }

  private async writeScale(type: EdgeType): Promise<KnativeService> {
    const name = edgeServiceName(type);
    const minScale = this.config.capacityRule === 'none' ? 0 : this.sessions.count(type);
    const existing = await this.cluster.getService(name);
    if (existing === undefined) {
      this.logger?.info(`creating ${name} (min-scale ${minScale})`);
      return this.cluster.applyService(edgeServiceManifest(type, minScale, this.config));
    }
    const current = existing.spec.template.metadata?.annotations?.[MIN_SCALE];
    if (this.config.capacityRule === 'none' || current === String(minScale)) return existing;
    this.logger?.info(`${name} min-scale ${current ?? 'unset'} → ${minScale}`);
    return this.cluster.patchAnnotations(name, { [MIN_SCALE]: String(minScale) }, { template: true });
  }

  private serve(type: EdgeType, clientId: string, service: KnativeService): AdmissionAnswer {
    const endpoint = serviceEndpoint(service);
    if (endpoint === undefined) throw new UnavailableError(`${service.metadata.name} is Ready but has no URL yet`);
    const leaseSeconds = this.config.capacityRule === 'none' ? 0 : this.config.leaseMs / 1000;
    return { url: endpoint.url, service_port: endpoint.port, offloading: 0, type, clientID: clientId, leaseSeconds };
  }

  private offload(type: EdgeType, clientId: string, capacity: number): AdmissionAnswer {
    const centre = this.config.centreUrl;
    if (centre === undefined)
      throw new UnavailableError(
        `the edge is full (${capacity} ${type} session(s)) and no centre is configured (EDGE_CENTRE_URL)`,
      );
    const url = new URL(centre);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return { url: centre, service_port: port, offloading: 1, type, clientID: clientId, leaseSeconds: 0 };
  }
}

function distinctTypes(sessions: readonly Session[]): EdgeType[] {
  return [...new Set(sessions.map((s) => s.type))];
}
