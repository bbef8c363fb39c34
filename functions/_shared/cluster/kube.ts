// The Cluster interface on @kubernetes/client-node: the one implementation, used in a pod on a
// cluster (in-cluster config) and in a local worker against the local runtime's API (the
// runtime hands its workers a kubeconfig through KUBECONFIG), with no code of its own for either.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  createConfiguration,
  setHeaderOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import { Agent as HttpsAgent } from 'node:https';
import { envInt, envString, type Env } from '../config.js';
import {
  BadInputError,
  ConflictError,
  ForbiddenError,
  KaskadeError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import type { Cluster, ClusterNode, KnativeService, WaitOptions } from './types.js';

const GROUP = 'serving.knative.dev';
const VERSION = 'v1';
const PLURAL = 'services';

export interface KubeClusterOptions {
  /** Timeout of every API call except waitReady's watch. Default 10 s. */
  requestTimeoutMs?: number;
}

/** A Cluster on one namespace of the cluster `kubeConfig`'s current context points at. */
export function kubeCluster(kubeConfig: KubeConfig, namespace: string, options: KubeClusterOptions = {}): Cluster {
  return new KubeCluster(kubeConfig, namespace, options.requestTimeoutMs ?? 10_000);
}

/**
 * The cluster the environment describes, as `KubeConfig.loadFromDefault()` finds it: `KUBECONFIG`,
 * then `~/.kube/config`, then the pod's service account. `KASKADE_NAMESPACE` picks the namespace
 * (default: the context's namespace, else the pod's, else `default`); `KASKADE_KUBE_TIMEOUT_MS`
 * the per-call timeout (10000).
 */
export function clusterFromEnv(env: Env = process.env): Cluster {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new UnavailableError(
      `no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or a service account): ${message(e)}`,
      { cause: e },
    );
  }
  const fallback = kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const namespace = envString(env, 'KASKADE_NAMESPACE', fallback);
  return kubeCluster(kc, namespace, { requestTimeoutMs: envInt(env, 'KASKADE_KUBE_TIMEOUT_MS', 10_000, { min: 1 }) });
}

class KubeCluster implements Cluster {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    private readonly timeoutMs: number,
  ) {
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new UnavailableError('the Kubernetes configuration has no current cluster');
    const middleware = [
      timeoutMiddleware(timeoutMs),
      ...(kc.getCurrentCluster()?.proxyUrl ? [] : [keepAliveMiddleware()]),
    ];
    const config = createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: kc },
      middleware,
    });
    this.custom = new CustomObjectsApi(config);
    this.core = new CoreV1Api(config);
  }

  private ref(name?: string): { group: string; version: string; namespace: string; plural: string; name: string } {
    return { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: name ?? '' };
  }

  async applyService(service: KnativeService): Promise<KnativeService> {
    const name = service.metadata.name;
    const body = { ...service, metadata: { ...service.metadata, namespace: this.namespace } };
    // A writer racing us between the read and the replace costs one more round, not an error.
    for (let attempt = 0; ; attempt += 1) {
      const current = await this.getService(name);
      try {
        if (!current) {
          return (await call(`create ksvc ${name}`, () =>
            this.custom.createNamespacedCustomObject({ ...this.ref(), body }),
          )) as KnativeService;
        }
        const metadata = {
          ...current.metadata,
          labels: { ...current.metadata.labels, ...service.metadata.labels },
          annotations: { ...current.metadata.annotations, ...service.metadata.annotations },
        };
        const replaced = { ...current, metadata, spec: service.spec };
        return (await call(`replace ksvc ${name}`, () =>
          this.custom.replaceNamespacedCustomObject({ ...this.ref(name), body: replaced }),
        )) as KnativeService;
      } catch (e) {
        if (!(e instanceof ConflictError) || attempt >= 3) throw e;
      }
    }
  }

  async getService(name: string): Promise<KnativeService | undefined> {
    try {
      return (await call(`get ksvc ${name}`, () =>
        this.custom.getNamespacedCustomObject(this.ref(name)),
      )) as KnativeService;
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async waitReady(name: string, options: WaitOptions): Promise<KnativeService> {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const timedOut = (): KaskadeError =>
      deadline.aborted
        ? new TimeoutError(`ksvc ${this.namespace}/${name} not Ready within ${options.timeoutMs} ms`)
        : new UnavailableError(`waiting for ksvc ${name} was aborted`);
    // Watch from the version we read, so no change between the read and the watch is missed;
    // a watch the server closes early is opened again from the last version seen.
    let current = await this.getService(name);
    while (true) {
      if (current && isReady(current)) return current;
      if (signal.aborted) throw timedOut();
      const from: string | undefined = current?.metadata.resourceVersion;
      current = await this.watchUntil(name, from, signal, (s) => isReady(s) || failed(s) !== undefined);
      const why = current ? failed(current) : undefined;
      if (current && why !== undefined) throw new UnavailableError(`ksvc ${this.namespace}/${name} failed: ${why}`);
    }
  }

  /** Watches one service until `done` holds, the stream ends or `signal` fires; the last object seen. */
  private async watchUntil(
    name: string,
    fromVersion: string | undefined,
    signal: AbortSignal,
    done: (s: KnativeService) => boolean,
  ): Promise<KnativeService | undefined> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${PLURAL}`;
    let last: KnativeService | undefined;
    let controller: AbortController | undefined;
    const ended = new Promise<void>((resolveEnd, rejectEnd) => {
      const onAbort = (): void => {
        controller?.abort();
        resolveEnd();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const query: Record<string, string> = { fieldSelector: `metadata.name=${name}` };
      if (fromVersion !== undefined) query.resourceVersion = fromVersion;
      new Watch(this.kc)
        .watch(
          path,
          query,
          (type, object: KnativeService) => {
            if (type === 'ERROR') return;
            last = type === 'DELETED' ? undefined : object;
            if (last && done(last)) onAbort();
          },
          (err: unknown) => {
            signal.removeEventListener('abort', onAbort);
            if (err && !signal.aborted && !(err instanceof Error && err.name === 'AbortError'))
              rejectEnd(translate(`watch ksvc ${name}`, err));
            else resolveEnd();
          },
        )
        .then(
          (c) => {
            controller = c;
            if (signal.aborted) c.abort();
          },
          (e: unknown) => rejectEnd(translate(`watch ksvc ${name}`, e)),
        );
    });
    await ended;
    return last ?? (await this.getService(name));
  }

  async patchAnnotations(
    name: string,
    annotations: Record<string, string | null>,
    options: { template?: boolean } = {},
  ): Promise<KnativeService> {
    const body = options.template
      ? { spec: { template: { metadata: { annotations } } } }
      : { metadata: { annotations } };
    return (await call(`patch ksvc ${name}`, () =>
      this.custom.patchNamespacedCustomObject(
        { ...this.ref(name), body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )) as KnativeService;
  }

  async deleteService(name: string): Promise<void> {
    try {
      await call(`delete ksvc ${name}`, () => this.custom.deleteNamespacedCustomObject(this.ref(name)));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  async listServices(labelSelector?: string): Promise<KnativeService[]> {
    const list = (await call('list ksvc', () =>
      this.custom.listNamespacedCustomObject({ ...this.ref(), ...(labelSelector ? { labelSelector } : {}) }),
    )) as { items?: KnativeService[] };
    return list.items ?? [];
  }

  async listNodes(labelSelector?: string): Promise<ClusterNode[]> {
    const list = await call('list nodes', () => this.core.listNode(labelSelector ? { labelSelector } : {}));
    return list.items.map((n) => ({
      name: n.metadata?.name ?? '',
      labels: n.metadata?.labels ?? {},
      allocatable: n.status?.allocatable ?? {},
    }));
  }

  toString(): string {
    return `kubeCluster(${this.kc.getCurrentCluster()?.server ?? '?'}, ${this.namespace}, ${this.timeoutMs} ms)`;
  }
}

/** Ready=True for the generation the service is at. */
export function isReady(s: KnativeService): boolean {
  const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && (s.status?.observedGeneration ?? 0) >= (s.metadata.generation ?? 0);
}

/** The reason a service cannot become Ready at its generation, if it says so. */
function failed(s: KnativeService): string | undefined {
  const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'False' || (s.status?.observedGeneration ?? 0) < (s.metadata.generation ?? 0)) return undefined;
  return `${ready.reason ?? 'NotReady'}: ${ready.message ?? ''}`;
}

/** Every generated-client call gets an abort signal: no call waits forever. */
function timeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/**
 * The client builds a new TLS agent for every request, so every call would pay a handshake;
 * one kept-alive agent with the same TLS options (CA, client certificate) serves them all.
 */
function keepAliveMiddleware(): ObservableMiddleware {
  let shared: HttpsAgent | undefined;
  return {
    pre: (context) => {
      const fresh = context.getAgent();
      if (fresh instanceof HttpsAgent) {
        shared ??= new HttpsAgent({ ...fresh.options, keepAlive: true });
        context.setAgent(shared);
        fresh.destroy();
      }
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw translate(what, e);
  }
}

/** Maps the client's failures to Kaskade's typed errors, with the API's own message. */
export function translate(what: string, e: unknown): KaskadeError {
  if (e instanceof KaskadeError) return e;
  const code =
    e instanceof ApiException
      ? e.code
      : typeof e === 'object' && e !== null && 'statusCode' in e
        ? Number(e.statusCode)
        : undefined;
  const text = `${what}: ${apiMessage(e)}`;
  if (code === 403) return new ForbiddenError(text, { cause: e });
  if (code === 404) return new NotFoundError(text, { cause: e });
  if (code === 409) return new ConflictError(text, { cause: e });
  if (code === 400 || code === 422) return new BadInputError(text, { cause: e });
  if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'))
    return new TimeoutError(`${what}: no answer in time`, { cause: e });
  return new UnavailableError(text, { cause: e });
}

function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body: unknown = e.body;
    const parsed: unknown = typeof body === 'string' ? safeJson(body) : body;
    if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string')
      return parsed.message;
    return `HTTP ${e.code}`;
  }
  return message(e);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
