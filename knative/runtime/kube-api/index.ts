// The local runtime's Kubernetes API (see ../README.md, "The Kubernetes API"): started by the
// runtime, it owns the service store, the controller that runs what the store holds, the
// tokens and kubeconfigs, and the HTTPS server kubectl and @kubernetes/client-node talk to.
import { join } from 'node:path';
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import type { Logger } from '../../../functions/_shared/log.js';
import type { RawDocument } from '../manifest-source.js';
import { ServiceController, type ServiceRunner } from './controller.js';
import { rfc3339 } from './status.js';
import { writeKubeconfig, writeServiceAccountFolder } from './kubeconfig.js';
import { EXAMPLE_NODES, readNodes } from './nodes.js';
import { Authorizer } from './rbac.js';
import { startApiServer, type ConfigMapDoc } from './server.js';
import type { Admit } from './services-api.js';
import { ServiceStore } from './store.js';
import { loadOrCreateTls } from './tls.js';
import { TokenBook } from './tokens.js';

export { EXAMPLE_NODES } from './nodes.js';
export type { ServiceRunner } from './controller.js';
export type { Admit } from './services-api.js';

export interface KubeApiOptions {
  stateDir: string;
  /** Namespace of manifest resources that name none. */
  namespace: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The node file; default the example edge cluster. */
  nodesFile?: string;
  /** Every manifest document (Services, RBAC objects, ServiceAccounts). */
  docs: readonly RawDocument[];
  admit: Admit;
  logger: Logger;
  /** Resources left out of discovery, as on a cluster without them: `brokers.eventing.knative.dev`, `configmaps`. */
  hide?: readonly string[];
}

export interface KubeApi {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The admin kubeconfig: `<stateDir>/kubeconfig`. */
  readonly kubeconfig: string;
  readonly store: ServiceStore;
  /** What a pod running as ServiceAccount `ns/name` gets: KUBECONFIG and KUBERNETES_SERVICE_HOST/PORT. */
  podEnv(namespace: string, serviceAccount: string): Promise<Record<string, string>>;
  /** Seeds the store with the manifests' services and runs everything in it through `runner`. */
  control(runner: ServiceRunner): Promise<void>;
  close(): Promise<void>;
}

export async function startKubeApi(o: KubeApiOptions): Promise<KubeApi> {
  const dir = join(o.stateDir, 'kube');
  const startedAt = rfc3339(new Date());
  const [tls, store, tokens, nodes] = await Promise.all([
    loadOrCreateTls(dir),
    ServiceStore.open(join(dir, 'services.json')),
    TokenBook.open(join(dir, 'tokens.json')),
    readNodes(o.nodesFile ?? EXAMPLE_NODES, startedAt),
  ]);
  const authorizer = Authorizer.fromDocuments(o.docs, o.namespace);
  const server = await startApiServer({
    host: o.host,
    port: o.port,
    tls,
    store,
    nodes,
    tokens,
    authorizer,
    admit: o.admit,
    logger: o.logger,
    configMaps: manifestConfigMaps(o.docs, o.namespace),
    hidden: new Set(o.hide ?? []),
  });
  const kubeconfig = join(o.stateDir, 'kubeconfig');
  // kubectl's default namespace: the one the manifests' services live in (a kustomization
  // usually sets one for all), else the runtime's.
  const namespaces = new Set(manifestServices(o.docs, o.namespace).map((m) => m.namespace));
  const contextNamespace = namespaces.size === 1 ? ([...namespaces][0] ?? o.namespace) : o.namespace;
  await writeKubeconfig(kubeconfig, {
    server: server.url,
    caPem: tls.caCert,
    token: await tokens.admin(),
    user: 'kaskade-admin',
    namespace: contextNamespace,
  });
  let controller: ServiceController | undefined;
  // One folder per ServiceAccount, written once however many services run as it.
  const podEnvs = new Map<string, Promise<Record<string, string>>>();
  const podEnvOf = async (namespace: string, serviceAccount: string): Promise<Record<string, string>> => {
    const folder = join(dir, 'serviceaccounts', namespace, serviceAccount);
    const token = await tokens.serviceAccount(namespace, serviceAccount);
    const path = await writeServiceAccountFolder(folder, {
      server: server.url,
      caPem: tls.caCert,
      token,
      user: `${namespace}-${serviceAccount}`,
      namespace,
    });
    return { KUBECONFIG: path, KUBERNETES_SERVICE_HOST: o.host, KUBERNETES_SERVICE_PORT: String(server.port) };
  };

  return {
    url: server.url,
    port: server.port,
    kubeconfig,
    store,
    podEnv(namespace, serviceAccount) {
      const key = `${namespace}/${serviceAccount}`;
      let env = podEnvs.get(key);
      if (!env) {
        env = podEnvOf(namespace, serviceAccount);
        podEnvs.set(key, env);
        env.catch(() => podEnvs.delete(key));
      }
      return env;
    },
    async control(runner) {
      controller = new ServiceController(store, runner, o.logger);
      await controller.start(manifestServices(o.docs, o.namespace));
    },
    async close() {
      await controller?.stop();
      await server.close();
      await store.flushed();
    },
  };
}

function manifestServices(
  docs: readonly RawDocument[],
  namespace: string,
): Array<{ namespace: string; service: KnativeService }> {
  const out: Array<{ namespace: string; service: KnativeService }> = [];
  for (const d of docs) {
    const v = d.value as Partial<KnativeService> | null;
    if (
      typeof v !== 'object' ||
      v === null ||
      v.apiVersion !== 'serving.knative.dev/v1' ||
      v.kind !== 'Service' ||
      !v.metadata
    )
      continue;
    out.push({ namespace: v.metadata.namespace ?? namespace, service: v as KnativeService });
  }
  return out;
}

function manifestConfigMaps(docs: readonly RawDocument[], namespace: string): ConfigMapDoc[] {
  const out: ConfigMapDoc[] = [];
  for (const d of docs) {
    const v = d.value as {
      apiVersion?: unknown;
      kind?: unknown;
      metadata?: { name?: unknown; namespace?: unknown };
      data?: Record<string, string>;
    } | null;
    if (v?.apiVersion !== 'v1' || v.kind !== 'ConfigMap' || typeof v.metadata?.name !== 'string') continue;
    const ns = typeof v.metadata.namespace === 'string' ? v.metadata.namespace : namespace;
    out.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...v.metadata, name: v.metadata.name, namespace: ns },
      ...(v.data ? { data: v.data } : {}),
    });
  }
  return out;
}
