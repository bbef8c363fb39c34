// Edge admission against the local runtime's Kubernetes API, as it runs on a cluster: the real
// @kubernetes/client-node with admission's own ServiceAccount (the component's Role and node
// ClusterRole), the runtime's example edge nodes (2 Xavier, 1 TX2, 1 Nano), and real edge-scalar
// and edge-image workers (their built-in models shrunk so a worker is Ready in seconds).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Admission } from '../../functions/admission/admission.js';
import { loadConfig } from '../../functions/admission/config.js';
import { MIN_SCALE } from '../../functions/admission/edge-service.js';
import { kubeCluster } from '../../functions/_shared/cluster/kube.js';
import type { Cluster, KnativeService } from '../../functions/_shared/cluster/types.js';
import { ForbiddenError, UnavailableError } from '../../functions/_shared/errors.js';
import { reachable } from '../../scripts/edge/client.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { renderComposed } from '../support/kustomize.js';
import { startKubeRuntime, type KubeRuntime } from '../support/kube-runtime.js';

const NS = 'kaskade';
let kr: KubeRuntime;
let dir: string;
let cluster: Cluster;
let custom: CustomObjectsApi;

/** The admission component's identity and rights, rendered by kustomize, without its own ksvc. */
async function admissionRbac(): Promise<string> {
  const rendered = renderComposed(
    [],
    [
      join(REPO_ROOT, 'knative', 'components', 'admission'),
      join(REPO_ROOT, 'knative', 'components', 'admission-nodes'),
    ],
    NS,
  );
  // The identity the edge services run as (base's kaskade-function).
  const docs = [
    ...rendered.filter((r) => r.kind !== 'Service'),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kaskade-function', namespace: NS } },
  ];
  const file = join(dir, 'edge-rbac.yaml');
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
  return file;
}

/** What admission's pod gets: the kubeconfig of ServiceAccount kaskade/kaskade-admission. */
async function admissionIdentity(): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromFile(await kr.runtime.kubeApi.serviceAccountKubeconfig(NS, 'kaskade-admission'));
  return kc;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaskade-edge-'));
  kr = await startKubeRuntime({
    manifests: await admissionRbac(),
    functionsDir: join(REPO_ROOT, 'functions'),
    namespace: NS,
    env: { EDGE_SCALAR_BUILTIN_WINDOWS: '2', EDGE_SCALAR_BUILTIN_EPOCHS: '1', EDGE_IMAGE_BUILTIN_EXAMPLES: '20' },
  });
  cluster = kubeCluster(await admissionIdentity(), NS);
  custom = kr.admin().makeApiClient(CustomObjectsApi);
}, 120_000);

afterAll(async () => {
  await kr?.close();
  await rm(dir, { recursive: true, force: true });
});

const ksvc = async (name: string): Promise<KnativeService> =>
  (await custom.getNamespacedCustomObject({
    group: 'serving.knative.dev',
    version: 'v1',
    namespace: NS,
    plural: 'services',
    name,
  })) as KnativeService;
const admissionWith = (env: Record<string, string>, now?: () => number): Admission =>
  new Admission({
    config: loadConfig({ EDGE_CENTRE_URL: 'http://admission.kaskade-centre.svc.cluster.local/', ...env }),
    cluster,
    ...(now ? { now } : {}),
  });

describe('admission on the runtime API', () => {
  it('counts the node file: 2 Xavier × 2 + 1 TX2, the Nano excluded', async () => {
    expect((await admissionWith({}).status()).capacity).toBe(5);
    expect((await cluster.listNodes()).map((n) => n.labels.machine).sort()).toEqual([
      'nano',
      'tx2',
      'xavier',
      'xavier',
    ]);
  });

  it('creates the ksvc, waits until it is Ready, then answers its URL; a second session patches min-scale', async () => {
    const admission = admissionWith({});
    const answer = await admission.admit('scalar', 'car-1');
    expect(answer.offloading).toBe(0);
    // Answered only once Ready: the worker's readiness (its model trained) already holds.
    const health = await fetch(`${reachable(answer.url)}healthz`);
    expect(health.status).toBe(200);
    const created = await ksvc('edge-scalar');
    expect(created.spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('1');
    expect(created.spec.template.spec.affinity).toMatchObject({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'machine', operator: 'NotIn', values: ['nano'] }] }],
        },
      },
    });
    expect(created.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');

    await admission.admit('scalar', 'car-2');
    const patched = await ksvc('edge-scalar');
    expect(patched.spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('2');
    expect(patched.metadata.generation).toBe((created.metadata.generation ?? 0) + 1);
    await admission.disconnect('car-1');
    await admission.disconnect('car-2');
    expect((await ksvc('edge-scalar')).spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('0');
  }, 120_000);

  it('a service not Ready within the deadline is a 503 and gives the session back', async () => {
    const admission = admissionWith({ EDGE_READY_TIMEOUT_MS: '100' });
    const error = await admission.admit('image', 'cam-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).httpStatus).toBe(503);
    expect(admission.sessions.count('image')).toBe(0);
    // The session given back lowers min-scale in the background; a second admission server
    // (a test artifact: a deployment runs one) must not race that write.
    await vi.waitFor(
      async () => expect((await ksvc('edge-image')).spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('0'),
      { timeout: 60_000, interval: 50 },
    );
    // Patient admission finds it once the worker is up.
    expect((await admissionWith({}).admit('image', 'cam-2')).offloading).toBe(0);
  }, 120_000);

  it('capacity C, 4C concurrent admissions: C admitted, the rest offloaded, no errors', async () => {
    const admission = admissionWith({ EDGE_NODE_WEIGHTS: 'xavier=1,tx2=0,nano=0' });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => admission.admit('scalar', `rush-${i}`)));
    expect(answers.filter((a) => a.offloading === 0)).toHaveLength(2);
    expect(answers.filter((a) => a.offloading === 1)).toHaveLength(6);
    expect((await ksvc('edge-scalar')).spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('2');
    for (let i = 0; i < 8; i += 1) await admission.disconnect(`rush-${i}`);
  }, 120_000);

  it('an abandoned session is released by its lease and its pod given back', async () => {
    let t = Date.now();
    const admission = admissionWith({ EDGE_LEASE_S: '30', EDGE_NODE_WEIGHTS: 'xavier=0,tx2=1,nano=0' }, () => t);
    expect((await admission.admit('scalar', 'gone')).offloading).toBe(0);
    expect((await admission.admit('scalar', 'waiting')).offloading).toBe(1);
    t += 30_000;
    expect((await admission.sweep()).map((s) => s.clientId)).toEqual(['gone']);
    expect((await ksvc('edge-scalar')).spec.template.metadata?.annotations?.[MIN_SCALE]).toBe('0');
    expect((await admission.admit('scalar', 'waiting')).offloading).toBe(0);
    await admission.disconnect('waiting');
  }, 120_000);

  it("admission's identity may not delete services, nor touch another namespace", async () => {
    await expect(cluster.deleteService('edge-scalar')).rejects.toBeInstanceOf(ForbiddenError);
    const elsewhere = kubeCluster(await admissionIdentity(), 'default');
    await expect(elsewhere.listServices()).rejects.toBeInstanceOf(ForbiddenError);
  });
});
