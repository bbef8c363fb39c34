// The running services: one pool of workers per Knative Service, registered with the ingress
// and the autoscaler. Services come and go while the runtime runs (the Kubernetes API's
// controller calls run() and stop()); a new revision replaces the old one, which drains.
import { existsSync } from 'node:fs';
import { ConfigError, InvalidFieldError } from '../../functions/_shared/errors.js';
import type { KnativeService } from '../../functions/_shared/cluster/types.js';
import type { Logger } from '../../functions/_shared/log.js';
import { applyOverrides, type Autoscaler, type KpaOverrides } from './autoscaler.js';
import { workerCommand, type WorkerMode } from './build.js';
import type { IngressTarget } from './ingress.js';
import type { ServiceRunner } from './kube-api/index.js';
import type { RawDocument } from './manifest-source.js';
import { parseManifests, type ManifestOptions, type ServiceManifest } from './manifests.js';
import { ServicePool } from './pool.js';
import { WorkerProcess } from './worker.js';
import { REPO_ROOT } from './paths.js';

/** Host env a worker inherits (everything else comes from its manifest, as in a container). */
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'TMPDIR',
  'TZ',
  'LANG',
  'LC_ALL',
  'KASKADE_BACKEND',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'NODE_EXTRA_CA_CERTS',
];

export interface ServiceSetOptions {
  autoscaler: Autoscaler;
  kpa?: KpaOverrides;
  logger: Logger;
  /** The one stream of worker output. */
  sink: NodeJS.WritableStream;
  workerMode: WorkerMode;
  readinessTimeoutMs: number;
  activatorCapacity: number;
  /** How the manifests were parsed (namespace, env overrides, zero initial scale). */
  manifestOptions: ManifestOptions;
  /** Where a service's function module is (`<functions>/<FUNCTION_TARGET>/index.ts`). */
  functionSource: (s: ServiceManifest) => string;
  /** ConfigMaps of the manifests, for `configMapKeyRef` in services created later. */
  configMaps: readonly RawDocument[];
  /** The local broker a service's KASKADE_BROKER_URL points at, or null. */
  brokerUrl: (namespace: string, name: string) => string | null;
  /** What a pod running as a ServiceAccount gets (the API's address and credentials). */
  podEnv: (namespace: string, serviceAccount: string) => Promise<Record<string, string>>;
  urls: (namespace: string, name: string) => { url: string; address: string };
}

export interface RunningService {
  manifest: ServiceManifest;
  revision: string;
  target: IngressTarget & { pool: ServicePool };
}

export class ServiceSet implements ServiceRunner {
  private readonly running = new Map<string, RunningService>();

  constructor(private readonly o: ServiceSetOptions) {}

  lookup(namespace: string, name: string): IngressTarget | undefined {
    return this.running.get(`${namespace}/${name}`)?.target;
  }

  list(): RunningService[] {
    return [...this.running.values()];
  }

  /** Validates a Service as a manifest one is; a problem is an InvalidFieldError naming the field. */
  admit(service: KnativeService, namespace: string): ServiceManifest {
    let manifest: ServiceManifest | undefined;
    try {
      manifest = parseManifests(
        [...this.o.configMaps, { origin: 'api', value: { ...service, metadata: { ...service.metadata, namespace } } }],
        this.o.manifestOptions,
      ).services[0];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const first = e.message.split('\n')[1]?.trim() ?? e.message;
      const m = /^api: Service\/[^:]*: ([^:]+): (.*)$/.exec(first);
      throw new InvalidFieldError(
        m?.[1] ?? 'spec',
        `Service "${service.metadata.name}" is invalid: ${m ? `${m[1] ?? ''}: ${m[2] ?? ''}` : first}`,
        { cause: e },
      );
    }
    if (!manifest) throw new InvalidFieldError('spec', `Service "${service.metadata.name}" is invalid`);
    if (!existsSync(this.o.functionSource(manifest))) {
      throw new InvalidFieldError(
        'spec.template.spec.containers[0].env',
        `Service "${service.metadata.name}" is invalid: spec.template.spec.containers[0].env: FUNCTION_TARGET=${manifest.functionTarget} but functions/${manifest.functionTarget}/index.ts does not exist`,
      );
    }
    return manifest;
  }

  urls(namespace: string, name: string): { url: string; address: string } {
    return this.o.urls(namespace, name);
  }

  async run(
    service: KnativeService,
    revision: string,
    events: { ready(): void; failed(message: string): void },
  ): Promise<void> {
    const namespace = service.metadata.namespace ?? this.o.manifestOptions.namespace;
    const s = this.admit(service, namespace);
    const serviceAccount = serviceAccountOf(service);
    const config = applyOverrides(s.autoscaling, this.o.kpa);
    const command = await workerCommand(this.o.workerMode, this.o.functionSource(s), this.o.logger);
    const env = { ...this.workerEnv(s, revision), ...(await this.o.podEnv(s.namespace, serviceAccount)) };
    const podLog = (pod: string, line: string): void => void this.o.sink.write(`${s.name}/${pod} | ${line}\n`);
    const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e));
    const autoscaler = this.o.autoscaler;
    const pool: ServicePool = new ServicePool({
      namespace: s.namespace,
      name: s.name,
      containerConcurrency: s.containerConcurrency,
      activatorCapacity: this.o.activatorCapacity,
      drainGraceMs: s.timeoutSeconds * 1_000 + 5_000,
      samplerBucketMs: Math.max(10, Math.min(100, Math.round(config.stableWindowMs / 600))),
      samplerRetainMs: config.stableWindowMs * 2,
      logger: this.o.logger,
      onDemand: () => autoscaler.tick(pool.key),
      startWorker: async (pod) => {
        const worker = await WorkerProcess.start(pod, {
          command,
          env,
          cwd: REPO_ROOT,
          readinessPath: s.readinessPath,
          readinessTimeoutMs: this.o.readinessTimeoutMs,
          onLine: (line) => podLog(pod, line),
        }).catch((e: unknown) => {
          events.failed(reason(e));
          throw e;
        });
        worker.ready.then(
          () => events.ready(),
          // A worker the runtime stopped itself (scaled down, replaced) did not fail its revision.
          (e: unknown) => {
            if (!worker.stoppedOnPurpose) events.failed(reason(e));
          },
        );
        return worker;
      },
    });
    const old = this.running.get(pool.key);
    this.running.set(pool.key, { manifest: s, revision, target: { pool, timeoutMs: s.timeoutSeconds * 1_000 } });
    if (old) {
      autoscaler.remove(pool.key);
      void old.target.pool.close();
    }
    autoscaler.add(pool, config);
    // A revision that starts at zero (initial-scale 0) is ready without a pod, as in Knative.
    if (config.initialScale === 0) events.ready();
  }

  async stop(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const r = this.running.get(key);
    if (!r) return;
    this.running.delete(key);
    this.o.autoscaler.remove(key);
    await r.target.pool.close();
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.target.pool.close()));
  }

  private workerEnv(s: ServiceManifest, revision: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of INHERITED_ENV) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    for (const { name, value } of s.env) env[name] = value;
    env.K_SERVICE = s.name;
    env.K_CONFIGURATION = s.name;
    env.K_REVISION = revision;
    env.KASKADE_DRAIN_TIMEOUT_MS = String(s.timeoutSeconds * 1_000);
    env.KASKADE_FUNCTION_SOURCE = this.o.functionSource(s);
    const broker = this.o.brokerUrl(s.broker.namespace, s.broker.name);
    if (broker !== null) env.KASKADE_BROKER_URL = broker;
    return env;
  }
}

function serviceAccountOf(service: KnativeService): string {
  const name = service.spec.template.spec.serviceAccountName;
  return typeof name === 'string' && name !== '' ? name : 'default';
}
