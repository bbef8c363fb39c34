// One Knative Service per layer of a job, through the shared Cluster interface: the manifest
// (the `layer` function with the entry's type and config in env, its resources, node selector
// and backend), create-or-update, wait for Ready with a timeout, and deletion by job label.
import { createHash } from 'node:crypto';
import type { ContainerEnv } from '../_shared/auth.js';
import type { Cluster, KnativeService } from '../_shared/cluster/types.js';
import { joinStoreUrl } from '../_shared/store/index.js';
import type { LayerEntry } from '../../events/catalog.js';
import type { LayerEndpoint } from '../../events/layer-client.js';

export const JOB_LABEL = 'kaskade.dev/layer-job';
export const INDEX_LABEL = 'kaskade.dev/layer-index';
/** The request body limit of a layer service's pod (the pod entry's default is 4 MiB). */
export const LAYER_MAX_BODY_BYTES = 512 * 1024 * 1024;

export interface ServiceSettings {
  /** The container image (the one Kaskade image; FUNCTION_TARGET picks the layer function). */
  readonly image: string;
  readonly serviceAccount: string;
  /** Storage roots the layer services may use (`KASKADE_STORAGE_ROOTS`). */
  readonly storageRoots: readonly string[];
  /** Where the job's layer checkpoints go: `<stateRoot>/<service>/<jobId>/`. */
  readonly stateRoot: string;
  readonly readyTimeoutMs: number;
  /** Extra env every layer service gets (e.g. the data dir a storage root refers to). */
  readonly env: Readonly<Record<string, string>>;
  /** The controller's own authentication, which its layer services get too (empty: off). */
  readonly authEnv?: readonly ContainerEnv[];
}

/** A DNS-label service name for layer k of a job: `layer-<job>-<k>`, hashed when the id does not fit. */
export function layerServiceName(jobId: string, k: number): string {
  const slug = jobId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const suffix = `-${k}`;
  const fits = slug === jobId && `layer-${slug}${suffix}`.length <= 63;
  if (fits) return `layer-${slug}${suffix}`;
  const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 8);
  return `layer-${slug.slice(0, 63 - 'layer-'.length - hash.length - 1 - suffix.length)}-${hash}${suffix}`.replace(
    /--+/g,
    '-',
  );
}

/** The label value of a job id (labels allow 63 characters of [A-Za-z0-9._-]). */
export function jobLabel(jobId: string): string {
  return jobId.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(jobId)
    ? jobId
    : createHash('sha256').update(jobId).digest('hex').slice(0, 40);
}

export function layerManifest(settings: ServiceSettings, jobId: string, k: number, entry: LayerEntry): KnativeService {
  const name = layerServiceName(jobId, k);
  const env: ContainerEnv[] = [
    ...Object.entries(settings.env).map(([n, value]) => ({ name: n, value })),
    { name: 'FUNCTION_TARGET', value: 'layer' },
    { name: 'LAYER_NAME', value: name },
    { name: 'LAYER_TYPE', value: entry.type },
    { name: 'LAYER_CONFIG', value: JSON.stringify(entry.config ?? {}) },
    { name: 'LAYER_STATE_URL', value: joinStoreUrl(settings.stateRoot, `${name}/`) },
    { name: 'KASKADE_STORAGE_ROOTS', value: settings.storageRoots.join(',') },
    // A micro-batch's activations are megabytes (conv 1 → conv 2 at 1,024 examples: 22 MB).
    { name: 'KASKADE_MAX_BODY_BYTES', value: String(LAYER_MAX_BODY_BYTES) },
  ];
  if (entry.backend !== undefined) env.push({ name: 'KASKADE_BACKEND', value: entry.backend });
  env.push(...(settings.authEnv ?? []));
  const container: Record<string, unknown> = {
    image: settings.image,
    env,
    ports: [{ containerPort: 8080 }],
    readinessProbe: { httpGet: { path: '/healthz' }, periodSeconds: 2 },
  };
  if (entry.resources !== undefined) container.resources = entry.resources;
  const podSpec: KnativeService['spec']['template']['spec'] = {
    serviceAccountName: settings.serviceAccount,
    containerConcurrency: 0,
    timeoutSeconds: 600,
    containers: [container],
  };
  if (entry.nodeSelector !== undefined) podSpec.nodeSelector = entry.nodeSelector;
  const labels = {
    'app.kubernetes.io/part-of': 'kaskade',
    'app.kubernetes.io/component': 'layer',
    [JOB_LABEL]: jobLabel(jobId),
    [INDEX_LABEL]: String(k),
  };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: {
      template: {
        metadata: {
          labels,
          annotations: {
            'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
            'autoscaling.knative.dev/metric': 'concurrency',
            'autoscaling.knative.dev/target': '16',
            'autoscaling.knative.dev/min-scale': '0',
            // One pod per layer: its weights and kept inputs live in that pod between calls.
            'autoscaling.knative.dev/max-scale': '1',
          },
        },
        spec: podSpec,
      },
    },
  };
}

/** Creates (or updates) every layer's service, then waits for all to be Ready; their endpoints. */
export async function ensureLayerServices(
  cluster: Cluster,
  settings: ServiceSettings,
  jobId: string,
  entries: readonly LayerEntry[],
): Promise<LayerEndpoint[]> {
  const applied = await Promise.all(
    entries.map((entry, k) => cluster.applyService(layerManifest(settings, jobId, k, entry))),
  );
  const ready = await Promise.all(
    applied.map((svc) => cluster.waitReady(svc.metadata.name, { timeoutMs: settings.readyTimeoutMs })),
  );
  return ready.map((svc, index) => ({ index, name: svc.metadata.name, url: serviceUrl(svc, cluster.namespace) }));
}

/** The URL Knative gives the service, else its cluster-local address. */
export function serviceUrl(svc: KnativeService, namespace: string): string {
  const url =
    svc.status?.address?.url ?? svc.status?.url ?? `http://${svc.metadata.name}.${namespace}.svc.cluster.local`;
  return url.replace(/\/+$/, '');
}

/** Deletes every layer service of a job; the names it deleted. */
export async function deleteLayerServices(cluster: Cluster, jobId: string): Promise<string[]> {
  const services = await cluster.listServices(`${JOB_LABEL}=${jobLabel(jobId)}`);
  await Promise.all(services.map((svc) => cluster.deleteService(svc.metadata.name)));
  return services.map((svc) => svc.metadata.name);
}
