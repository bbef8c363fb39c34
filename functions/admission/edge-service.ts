// The Knative Service admission makes sure exists for each ML type: seed 003's memory request and
// limit per type, required node affinity that keeps it off excluded boards (weight 0, e.g. Nano),
// preferred affinity for the strong boards, and `min-scale` = the type's open sessions, so each
// admitted client finds a warm pod and released sessions give their pod back.
import type { ContainerEnv } from '../_shared/auth.js';
import type { KnativeService } from '../_shared/cluster/types.js';
import type { EdgeType } from './capacity.js';
import type { AdmissionConfig } from './config.js';

/** Seed 003's container memory per type (Kubernetes quantities). */
export const EDGE_MEMORY: Readonly<Record<EdgeType, { request: string; limit: string }>> = {
  scalar: { request: '3417969Ki', limit: '3906250Ki' },
  image: { request: '4394531Ki', limit: '4882812Ki' },
};

export const MIN_SCALE = 'autoscaling.knative.dev/min-scale';
export const TYPE_LABEL = 'kaskade.dev/edge-type';

export function edgeServiceName(type: EdgeType): string {
  return `edge-${type}`;
}

export type EdgeServiceConfig = Pick<
  AdmissionConfig,
  'nodeLabel' | 'nodeWeights' | 'nodePreference' | 'serviceImage' | 'selfUrl' | 'modelUris' | 'authEnv'
>;

export function edgeServiceManifest(type: EdgeType, minScale: number, config: EdgeServiceConfig): KnativeService {
  const name = edgeServiceName(type);
  // The storage every Kaskade function has (base's manifests): the built-in models are kept there.
  const env: ContainerEnv[] = [
    { name: 'FUNCTION_TARGET', value: name },
    { name: 'KASKADE_DATA_DIR', value: '/var/lib/kaskade' },
    { name: 'KASKADE_STORAGE_ROOTS', value: 'file://$(KASKADE_DATA_DIR)' },
  ];
  if (config.selfUrl !== undefined) env.push({ name: 'EDGE_ADMISSION_URL', value: config.selfUrl });
  const modelUri = config.modelUris[type];
  if (modelUri !== undefined) env.push({ name: 'MODEL_URI', value: modelUri });
  // As closed as admission itself: the same Secret's token, the same OIDC audience (or none).
  env.push(...config.authEnv);
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/part-of': 'kaskade',
        'app.kubernetes.io/component': name,
        'app.kubernetes.io/managed-by': 'admission',
        [TYPE_LABEL]: type,
      },
    },
    spec: {
      template: {
        metadata: {
          annotations: {
            'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
            'autoscaling.knative.dev/metric': 'concurrency',
            'autoscaling.knative.dev/target': '10',
            [MIN_SCALE]: String(minScale),
            'autoscaling.knative.dev/window': '60s',
          },
        },
        spec: {
          serviceAccountName: 'kaskade-function',
          timeoutSeconds: 600,
          affinity: nodeAffinity(config),
          containers: [
            {
              image: config.serviceImage,
              env,
              ports: [{ containerPort: 8080 }],
              resources: {
                requests: { memory: EDGE_MEMORY[type].request },
                limits: { memory: EDGE_MEMORY[type].limit },
              },
              readinessProbe: { httpGet: { path: '/healthz' }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  };
}

function nodeAffinity(config: EdgeServiceConfig): Record<string, unknown> {
  const excluded = Object.entries(config.nodeWeights)
    .filter(([, w]) => w === 0)
    .map(([m]) => m)
    .sort();
  const required =
    excluded.length === 0
      ? {}
      : {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: config.nodeLabel, operator: 'NotIn', values: excluded }] }],
          },
        };
  const preferred = Object.entries(config.nodePreference)
    .sort(([, a], [, b]) => b - a)
    .map(([machine, weight]) => ({
      weight,
      preference: { matchExpressions: [{ key: config.nodeLabel, operator: 'In', values: [machine] }] },
    }));
  return {
    nodeAffinity: {
      ...required,
      ...(preferred.length > 0 ? { preferredDuringSchedulingIgnoredDuringExecution: preferred } : {}),
    },
  };
}

/** Where clients reach a Ready service: its status URL, and that URL's port. */
export function serviceEndpoint(service: KnativeService): { url: string; port: number } | undefined {
  const raw = service.status?.url ?? service.status?.address?.url;
  if (raw === undefined) return undefined;
  const url = new URL(raw);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { url: raw, port };
}
