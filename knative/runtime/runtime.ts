// startRuntime(): Knative Serving and Eventing on one machine. Reads the manifests, starts the
// local broker (when one is available), one ingress for every service, the autoscaler and the
// PingSources, and writes a state file so `kaskade status` / `kaskade send` can find it.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { ConfigError, UnavailableError } from '../../functions/_shared/errors.js';
import { createLogger, type Logger } from '../../functions/_shared/log.js';
import { answerMetrics } from '../../functions/_shared/observability/metrics.js';
import { startLocalBrokers, type BrokerLauncher, type RuntimeBroker } from './broker.js';
import { Autoscaler, tickMsOf, type KpaOverrides, type ScaleStatus } from './autoscaler.js';
import type { WorkerMode } from './build.js';
import { startIngress, type Ingress } from './ingress.js';
import { runtimeMetrics, revisionSamples } from './metrics.js';
import { startKubeApi, type KubeApi } from './kube-api/index.js';
import { readManifestDocuments, type RawDocument } from './manifest-source.js';
import {
  parseManifests,
  type Destination,
  type ManifestOptions,
  type RuntimeManifests,
  type ServiceManifest,
} from './manifests.js';
import { startPingSources, type PingSources, type PingStatus } from './pingsource.js';
import type { PoolStatus } from './pool.js';
import { ServiceSet } from './services.js';
import { readState, removeState, writeState, type RuntimeStateFile } from './state.js';
import { FUNCTIONS_DIR } from './paths.js';

export interface RuntimeOptions {
  /** A YAML file, a folder of YAML files, or a kustomize folder. */
  manifests: string;
  /** Namespace of resources that name none. Default `default`. */
  namespace?: string;
  /** Ingress port; 0 (default) picks a free one. */
  port?: number;
  /** Ingress bind address. Default 127.0.0.1. */
  host?: string;
  /** Where the state file (and the broker's log) live. Default `.kaskade` in the working folder. */
  stateDir?: string;
  kpa?: KpaOverrides;
  /** Runtime messages; default: a logger on `logSink`. */
  logger?: Logger;
  /** The one stream every worker's output goes to, prefixed `<service>/<pod> | `. Default stderr. */
  logSink?: NodeJS.WritableStream;
  workerMode?: WorkerMode;
  /** Env values that replace the manifests' own, for every service. */
  env?: Readonly<Record<string, string>>;
  /** Knative's allow-zero-initial-scale. Default false, as in Knative. */
  allowZeroInitialScale?: boolean;
  /** Longest wait for a new worker to become ready. Default 60 s. */
  readinessTimeoutMs?: number;
  /** Requests buffered per service while it has no ready worker. Default 1000. */
  activatorCapacity?: number;
  /** Timeout of PingSource deliveries. Default 10 s. */
  sinkTimeoutMs?: number;
  /** kubectl used for kustomize folders. Default `kubectl`. */
  kubectl?: string;
  /** The folder with one folder per function (`<FUNCTION_TARGET>/index.ts`). Default the repository's `functions/`. */
  functionsDir?: string;
  /** Starts the brokers; default: the local broker of events/. null runs without one. */
  broker?: BrokerLauncher | null;
  /** The Kubernetes API: its port (0, the default, picks a free one), node file (default: the example edge cluster), and resources hidden from discovery (`brokers.eventing.knative.dev`: as if that CRD were not installed). */
  kubeApi?: { port?: number; nodes?: string; hide?: readonly string[] };
}

export interface ServiceStatus extends PoolStatus, ScaleStatus {
  namespace: string;
  name: string;
  functionTarget: string;
  url: string;
  hostUrl: string;
  containerConcurrency: number;
  observedConcurrency: number;
}

export interface RuntimeStatus {
  pid: number;
  port: number;
  startedAt: string;
  brokerUrl: string | null;
  broker: Record<string, unknown> | null;
  services: ServiceStatus[];
  pingSources: PingStatus[];
}

export interface Runtime {
  readonly port: number;
  /** The Kubernetes API (`https://127.0.0.1:<port>`) and the admin kubeconfig for it. */
  readonly kubeApi: {
    readonly url: string;
    readonly port: number;
    readonly kubeconfig: string;
    /** Writes (once) and returns the kubeconfig a pod running as this ServiceAccount gets. */
    serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string>;
  };
  readonly manifests: RuntimeManifests;
  /** `http://127.0.0.1:<port>/<ns>/<svc>`: works for every HTTP client. */
  url(service: string, namespace?: string): string;
  /** `http://<svc>.<ns>.localhost:<port>`: for browsers and curl (they resolve *.localhost). */
  hostUrl(service: string, namespace?: string): string;
  /** The local broker's ingress for a broker (default: the namespace's `default`), or null. */
  brokerUrl(namespace?: string, broker?: string): string | null;
  status(): RuntimeStatus;
  /** Stops PingSources, drains and stops workers, stops the broker and the ingress. */
  close(): Promise<void>;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const namespace = options.namespace ?? 'default';
  const host = options.host ?? '127.0.0.1';
  const stateDir = resolve(options.stateDir ?? '.kaskade');
  const sink = options.logSink ?? process.stderr;
  const logger = options.logger ?? createLogger('kaskade', sink);
  const startedAt = new Date().toISOString();
  const functionsDir = resolve(options.functionsDir ?? FUNCTIONS_DIR);
  const functionSource = (s: ServiceManifest): string => join(functionsDir, s.functionTarget, 'index.ts');

  const { docs, manifestOptions, manifests } = await loadManifests(options, {
    namespace,
    stateDir,
    functionSource,
    logger,
  });
  await claimStateDir(stateDir);

  const tickMs = tickMsOf(options.kpa);
  const autoscaler = new Autoscaler(tickMs, logger);
  const metrics = runtimeMetrics(
    () => revisionSamples(services?.list() ?? [], autoscaler),
    (ns, name) => services?.list().find((r) => r.manifest.namespace === ns && r.manifest.name === name)?.revision,
  );
  let ingress: Ingress | undefined;
  let broker: RuntimeBroker | null = null;
  let pings: PingSources | undefined;
  let kube: KubeApi | undefined;
  let services: ServiceSet | undefined;

  const urlOf = (svc: string, ns = namespace): string => `http://${host}:${ingress?.port ?? 0}/${ns}/${svc}`;
  const hostUrlOf = (svc: string, ns = namespace): string => `http://${svc}.${ns}.localhost:${ingress?.port ?? 0}`;
  const brokerUrlOf = (ns = namespace, name = 'default'): string | null => broker?.url(ns, name) ?? null;
  const resolveDestination = (d: Destination): string => {
    if (d.kind === 'uri') return d.uri;
    if (d.kind === 'service') return `${urlOf(d.name, d.namespace)}${d.path === '/' ? '' : d.path}`;
    const url = brokerUrlOf(d.namespace, d.name);
    if (url === null) throw new ConfigError(`Broker ${d.namespace}/${d.name} has no local broker to run it`);
    return url;
  };

  const brokerList = (): Array<{ namespace: string; name: string; url: string }> =>
    manifests.brokers.flatMap((b) => {
      const url = brokerUrlOf(b.namespace, b.name);
      return url === null ? [] : [{ namespace: b.namespace, name: b.name, url }];
    });

  const status = (): RuntimeStatus => ({
    pid: process.pid,
    port: ingress?.port ?? 0,
    startedAt,
    brokerUrl: brokerUrlOf(),
    broker: broker?.stats() ?? null,
    services: (services?.list() ?? []).map((entry) => serviceStatus(entry, autoscaler, urlOf, hostUrlOf)),
    pingSources: pings?.status() ?? [],
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      pings?.stop();
      // The broker drains its deliveries first: they need the services (and their autoscaling).
      await broker?.close();
      await kube?.close();
      autoscaler.stop();
      await services?.close();
      await ingress?.close();
      await removeState(stateDir, process.pid);
      logger.info('stopped');
    })());

  try {
    ingress = await startIngress({
      port: options.port ?? 0,
      host,
      lookup: (ns, name) => services?.lookup(ns, name),
      admin: (path, req, res) => admin(path, req, res, status),
      logger,
      metrics: (res) => void answerMetrics(res, metrics.registry).catch(() => res.destroy()),
      observe: (ns, name, code, ms) => metrics.request(ns, name, code, ms),
    });
    const launchBroker = options.broker === undefined ? startLocalBrokers : options.broker;
    if (launchBroker && manifests.brokers.length > 0) {
      broker = await launchBroker({
        brokers: manifests.brokers,
        triggers: manifests.triggers,
        stateDir,
        logger: createLogger('broker', sink),
        resolve: resolveDestination,
        observer: (ns) => metrics.brokerObserver(ns),
      });
    } else if (manifests.brokers.length > 0) {
      logger.warn(
        `no local broker: ${manifests.brokers.length} Broker(s) and ${manifests.triggers.length} Trigger(s) are not served`,
      );
    }

    // Every service, from the manifests or created through the Kubernetes API, is run by the
    // API's controller from its store.
    kube = await startKubeApi({
      stateDir,
      namespace,
      host,
      port: options.kubeApi?.port ?? 0,
      ...(options.kubeApi?.nodes !== undefined ? { nodesFile: options.kubeApi.nodes } : {}),
      ...(options.kubeApi?.hide !== undefined ? { hide: options.kubeApi.hide } : {}),
      docs,
      admit: (service, ns) => {
        if (!services) throw new UnavailableError('the runtime is still starting');
        services.admit(service, ns);
      },
      logger,
    });
    services = new ServiceSet({
      autoscaler,
      ...(options.kpa ? { kpa: options.kpa } : {}),
      logger,
      sink,
      workerMode: options.workerMode ?? 'bundle',
      readinessTimeoutMs: options.readinessTimeoutMs ?? 60_000,
      activatorCapacity: options.activatorCapacity ?? 1_000,
      manifestOptions,
      functionSource,
      configMaps: docs.filter((d) => (d.value as { kind?: unknown } | null)?.kind === 'ConfigMap'),
      brokerUrl: brokerUrlOf,
      podEnv: (ns, sa) => kube?.podEnv(ns, sa) ?? Promise.resolve({}),
      urls: (ns, name) => ({ url: hostUrlOf(name, ns), address: urlOf(name, ns) }),
    });
    await kube.control(services);
    autoscaler.start();
    pings = startPingSources(
      manifests.pingSources.map((p) => ({ source: p, sinkUrl: resolveDestination(p.sink) })),
      { logger, timeoutMs: options.sinkTimeoutMs ?? 10_000 },
    );
    const state: RuntimeStateFile = {
      pid: process.pid,
      port: ingress.port,
      host,
      kubeApiUrl: kube.url,
      kubeconfig: kube.kubeconfig,
      adminUrl: `http://${host}:${ingress.port}/_kaskade`,
      namespace,
      brokerUrl: brokerUrlOf(),
      brokers: brokerList(),
      startedAt,
    };
    await writeState(stateDir, state);
  } catch (e) {
    await close();
    throw e;
  }

  const port = ingress.port;
  const kubeApi = kube;
  const api = {
    url: kube.url,
    port: kube.port,
    kubeconfig: kube.kubeconfig,
    serviceAccountKubeconfig: async (ns: string, sa: string): Promise<string> =>
      (await kubeApi.podEnv(ns, sa)).KUBECONFIG ?? '',
  };
  logger.info(
    `ingress on http://${host}:${port} (tick ${tickMs} ms); ${manifests.services.length} service(s) in the manifests; Kubernetes API on ${api.url}`,
  );
  return {
    port,
    kubeApi: api,
    manifests,
    url: urlOf,
    hostUrl: hostUrlOf,
    brokerUrl: brokerUrlOf,
    status,
    close,
  };
}

/** Reads the manifests, reports what is not run locally, and checks every function exists. */
async function loadManifests(
  options: RuntimeOptions,
  at: { namespace: string; stateDir: string; functionSource: (s: ServiceManifest) => string; logger: Logger },
): Promise<{ docs: RawDocument[]; manifestOptions: ManifestOptions; manifests: RuntimeManifests }> {
  const docs = await readManifestDocuments(options.manifests, options.kubectl ? { kubectl: options.kubectl } : {});
  const manifestOptions: ManifestOptions = {
    namespace: at.namespace,
    allowZeroInitialScale: options.allowZeroInitialScale ?? false,
    // Pods on a cluster mount their data volume at KASKADE_DATA_DIR; locally that folder is the
    // runtime's own, set the way Knative sets PORT (an explicit env option still wins).
    envOverrides: { KASKADE_DATA_DIR: join(at.stateDir, 'data'), ...options.env },
  };
  const manifests = parseManifests(docs, manifestOptions);
  for (const w of manifests.warnings) at.logger.warn(w);
  if (manifests.ignored.length > 0) at.logger.info(`not run locally: ${manifests.ignored.join(', ')}`);
  for (const s of manifests.services) {
    const source = at.functionSource(s);
    if (!existsSync(source))
      throw new ConfigError(
        `${s.origin}: Service/${s.name}: FUNCTION_TARGET=${s.functionTarget} but ${source} does not exist`,
      );
  }
  return { docs, manifestOptions, manifests };
}

/** Makes the state folder this runtime's: refused while another live runtime uses it. */
async function claimStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const other = await readState(stateDir).catch(() => null);
  if (other)
    throw new ConfigError(
      `another runtime (pid ${other.pid}, port ${other.port}) uses ${stateDir}; stop it or pick another state folder`,
    );
}

/** One service's line of `kaskade status`: its pool, its autoscaler's view and its URLs. */
function serviceStatus(
  { manifest: s, target: t }: ReturnType<ServiceSet['list']>[number],
  autoscaler: Autoscaler,
  urlOf: (svc: string, ns?: string) => string,
  hostUrlOf: (svc: string, ns?: string) => string,
): ServiceStatus {
  const scale = autoscaler.status(`${s.namespace}/${s.name}`) ?? {
    desired: 0,
    mode: 'stable' as const,
    stable: 0,
    panic: 0,
    targetPerPod: 0,
  };
  return {
    namespace: s.namespace,
    name: s.name,
    functionTarget: s.functionTarget,
    url: urlOf(s.name, s.namespace),
    hostUrl: hostUrlOf(s.name, s.namespace),
    containerConcurrency: s.containerConcurrency,
    observedConcurrency: t.pool.sampler.current(),
    ...t.pool.status(),
    ...scale,
  };
}

function admin(path: string, _req: IncomingMessage, res: ServerResponse, status: () => RuntimeStatus): boolean {
  let body: unknown;
  if (path === '/_kaskade/status') body = status();
  else if (path === '/_kaskade/healthz') body = { ok: true };
  else return false;
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return true;
}
