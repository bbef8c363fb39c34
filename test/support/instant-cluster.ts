// Test support: the Cluster interface held in memory, for unit tests of code that manages
// Knative Services. A service becomes Ready at once with the URL `urlFor` gives it, unless the
// test says otherwise (`notReady`, `forbid`). It is a fake of Kaskade's own interface, not of
// the Kubernetes client; tests against the real API use the local runtime.
import { ForbiddenError, NotFoundError, TimeoutError } from '../../functions/_shared/errors.js';
import type { Cluster, ClusterNode, KnativeService, WaitOptions } from '../../functions/_shared/cluster/types.js';

export interface MemoryCluster extends Cluster {
  readonly services: Map<string, KnativeService>;
  /** Every call, in order (`apply:<name>`, `delete:<name>`, ...). */
  readonly calls: string[];
  /** Services that never become Ready (waitReady times out). */
  readonly notReady: Set<string>;
  /** Verbs answered with 403, as an RBAC denial would (`create`, `delete`, `list`, ...). */
  readonly forbid: Set<string>;
}

export function memoryCluster(urlFor: (name: string) => string, namespace = 'kaskade'): MemoryCluster {
  const services = new Map<string, KnativeService>();
  const calls: string[] = [];
  const notReady = new Set<string>();
  const forbid = new Set<string>();
  const check = (verb: string, name: string): void => {
    calls.push(`${verb}:${name}`);
    if (forbid.has(verb))
      throw new ForbiddenError(
        `services.serving.knative.dev "${name}" is forbidden: cannot ${verb} in namespace ${namespace}`,
      );
  };
  const withStatus = (svc: KnativeService): KnativeService => {
    const name = svc.metadata.name;
    const ready = !notReady.has(name);
    return {
      ...svc,
      status: {
        observedGeneration: svc.metadata.generation ?? 1,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }],
        url: urlFor(name),
        address: { url: urlFor(name) },
      },
    };
  };
  return {
    namespace,
    services,
    calls,
    notReady,
    forbid,
    applyService(service) {
      const name = service.metadata.name;
      const existing = services.get(name);
      check(existing ? 'update' : 'create', name);
      const generation = (existing?.metadata.generation ?? 0) + 1;
      const stored = withStatus({ ...service, metadata: { ...service.metadata, namespace, generation } });
      services.set(name, stored);
      return Promise.resolve(stored);
    },
    getService(name) {
      check('get', name);
      return Promise.resolve(services.get(name));
    },
    async waitReady(name: string, options: WaitOptions) {
      check('watch', name);
      const svc = services.get(name);
      if (svc === undefined) throw new NotFoundError(`service ${name} not found`);
      if (notReady.has(name)) {
        await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
        throw new TimeoutError(`service ${name} was not Ready within ${options.timeoutMs} ms`);
      }
      return svc;
    },
    patchAnnotations(name) {
      check('patch', name);
      const svc = services.get(name);
      if (svc === undefined) return Promise.reject(new NotFoundError(`service ${name} not found`));
      return Promise.resolve(svc);
    },
    deleteService(name) {
      check('delete', name);
      services.delete(name);
      return Promise.resolve();
    },
    listServices(labelSelector?: string) {
      check('list', labelSelector ?? '');
      const wanted = (labelSelector ?? '')
        .split(',')
        .filter((s) => s !== '')
        .map((s) => s.split('=') as [string, string]);
      return Promise.resolve(
        [...services.values()].filter((svc) => wanted.every(([k, v]) => svc.metadata.labels?.[k] === v)),
      );
    },
    listNodes(): Promise<ClusterNode[]> {
      return Promise.resolve([]);
    },
  };
}
