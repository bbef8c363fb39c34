// The one in-memory Cluster for unit tests of code that talks to Kubernetes: services keyed by
// name with generations, Ready either at once or when the test says so (or never, for names in
// `notReady`), verbs refused as an RBAC denial would (`forbid`), nodes from a list, and a log of
// the calls made. It fakes Kaskade's own Cluster interface, not the Kubernetes client; tests
// against the real API use the local runtime instead.
import type { Cluster, ClusterNode, KnativeService, WaitOptions } from '../../functions/_shared/cluster/types.js';
import { ForbiddenError, NotFoundError, TimeoutError } from '../../functions/_shared/errors.js';

export interface MemoryClusterOptions {
  namespace?: string;
  nodes?: ClusterNode[];
  /** `auto`: a service is Ready as soon as it is written; `manual`: only after markReady(). */
  readiness?: 'auto' | 'manual';
  /** Each call yields to the event loop this many times first, so concurrent callers interleave. */
  ticks?: number;
  /** The URL a Ready service reports (default `http://<name>.<namespace>.example.com`). */
  urlOf?: (name: string) => string;
}

export class MemoryCluster implements Cluster {
  readonly namespace: string;
  nodes: ClusterNode[];
  /** Every call, in order (`apply <name>`, `wait <name>`, `patch <name> {...}`, ...). */
  readonly calls: string[] = [];
  /** The services as written (no status), by name. */
  readonly services = new Map<string, KnativeService>();
  /** Services that never become Ready, whatever `readiness` says. */
  readonly notReady = new Set<string>();
  /** Verbs answered with 403 (`create`, `update`, `get`, `watch`, `patch`, `delete`, `list`). */
  readonly forbid = new Set<string>();
  private readonly readyGeneration = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly readiness: 'auto' | 'manual';
  private readonly ticks: number;
  private readonly urlOf: (name: string) => string;

  constructor(options: MemoryClusterOptions = {}) {
    this.namespace = options.namespace ?? 'kaskade';
    this.nodes = options.nodes ?? [];
    this.readiness = options.readiness ?? 'auto';
    this.ticks = options.ticks ?? 1;
    this.urlOf = options.urlOf ?? ((name) => `http://${name}.${this.namespace}.example.com`);
  }

  async applyService(service: KnativeService): Promise<KnativeService> {
    const old = this.services.get(service.metadata.name);
    await this.yield(`apply ${service.metadata.name}`, old ? 'update' : 'create', service.metadata.name);
    const generation = (old?.metadata.generation ?? 0) + 1;
    const stored: KnativeService = structuredClone({
      ...service,
      metadata: { ...service.metadata, namespace: this.namespace, generation },
    });
    this.store(stored);
    return structuredClone(this.withStatus(stored));
  }

  async getService(name: string): Promise<KnativeService | undefined> {
    await this.yield(`get ${name}`, 'get', name);
    const s = this.services.get(name);
    return s === undefined ? undefined : structuredClone(this.withStatus(s));
  }

  waitReady(name: string, options: WaitOptions): Promise<KnativeService> {
    this.calls.push(`wait ${name}`);
    if (this.forbid.has('watch')) return Promise.reject(this.denied('watch', name));
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const s = this.services.get(name);
        if (s !== undefined && this.isReady(s)) {
          finish();
          resolve(structuredClone(this.withStatus(s)));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(`service ${name} not Ready within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async patchAnnotations(
    name: string,
    annotations: Record<string, string | null>,
    options: { template?: boolean } = {},
  ): Promise<KnativeService> {
    await this.yield(`patch ${name} ${JSON.stringify(annotations)}`, 'patch', name);
    const s = this.services.get(name);
    if (s === undefined) throw new NotFoundError(`service ${name} not found`);
    const next = structuredClone(s);
    const target = options.template
      ? ((next.spec.template.metadata ??= {}).annotations ??= {})
      : (next.metadata.annotations ??= {});
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete target[k];
      else target[k] = v;
    }
    next.metadata.generation = (s.metadata.generation ?? 0) + 1;
    this.store(next);
    return structuredClone(this.withStatus(next));
  }

  async deleteService(name: string): Promise<void> {
    await this.yield(`delete ${name}`, 'delete', name);
    this.services.delete(name);
  }

  async listServices(labelSelector?: string): Promise<KnativeService[]> {
    await this.yield(`list services ${labelSelector ?? ''}`.trim(), 'list', '');
    return [...this.services.values()]
      .filter((s) => matches(s.metadata.labels ?? {}, labelSelector))
      .map((s) => structuredClone(this.withStatus(s)));
  }

  async listNodes(labelSelector?: string): Promise<ClusterNode[]> {
    await this.yield(`list nodes ${labelSelector ?? ''}`.trim());
    return this.nodes.filter((n) => matches(n.labels, labelSelector)).map((n) => structuredClone(n));
  }

  /** Marks the service's current generation Ready (readiness `manual`). */
  markReady(name: string): void {
    const s = this.services.get(name);
    if (s === undefined) throw new NotFoundError(`service ${name} not found`);
    this.readyGeneration.set(name, s.metadata.generation ?? 1);
    for (const w of [...this.waiters]) w();
  }

  /** The stored service as written (no status), for assertions. */
  peek(name: string): KnativeService | undefined {
    const s = this.services.get(name);
    return s === undefined ? undefined : structuredClone(s);
  }

  private store(service: KnativeService): void {
    this.services.set(service.metadata.name, service);
    if (this.readiness === 'auto') this.readyGeneration.set(service.metadata.name, service.metadata.generation ?? 1);
    for (const w of [...this.waiters]) w();
  }

  private isReady(s: KnativeService): boolean {
    if (this.notReady.has(s.metadata.name)) return false;
    return this.readyGeneration.get(s.metadata.name) === s.metadata.generation;
  }

  private withStatus(s: KnativeService): KnativeService {
    const ready = this.isReady(s);
    return {
      ...s,
      status: {
        observedGeneration: s.metadata.generation ?? 1,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }],
        url: this.urlOf(s.metadata.name),
        address: { url: this.urlOf(s.metadata.name) },
      },
    };
  }

  private denied(verb: string, name: string): ForbiddenError {
    return new ForbiddenError(
      `services.serving.knative.dev "${name}" is forbidden: cannot ${verb} in namespace ${this.namespace}`,
    );
  }

  private async yield(call: string, verb?: string, name = ''): Promise<void> {
    this.calls.push(call);
    if (verb !== undefined && this.forbid.has(verb)) throw this.denied(verb, name);
    for (let i = 0; i < this.ticks; i += 1) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Equality selectors only (`a=b,c=d`), which is all these tests use. */
function matches(labels: Record<string, string>, selector: string | undefined): boolean {
  if (selector === undefined || selector === '') return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return k !== undefined && labels[k.trim()] === v?.trim();
  });
}

/** An edge node with the seed's `machine` label. */
export function edgeNode(name: string, machine: string): ClusterNode {
  return { name, labels: { machine, 'kubernetes.io/hostname': name }, allocatable: { cpu: '6', memory: '16Gi' } };
}
