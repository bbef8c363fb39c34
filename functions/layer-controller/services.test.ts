// Layer services through the real Cluster (@kubernetes/client-node) against the local runtime's
// Kubernetes API, as the controller's ServiceAccount with the shipped Role: create, exists →
// update, not Ready yet → wait, no Ready in time → TimeoutError, and an RBAC denial.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeCluster } from '../_shared/cluster/kube.js';
import { ForbiddenError, TimeoutError } from '../_shared/errors.js';
import { SEED_LAYERS } from '../_shared/layers/spec.js';
import { FIXTURE_MANIFESTS, REPO_ROOT } from '../../test/support/fixtures.js';
import { startKubeRuntime, type KubeRuntime } from '../../test/support/kube-runtime.js';
import { deleteLayerServices, ensureLayerServices, layerServiceName, type ServiceSettings } from './services.js';

let kr: KubeRuntime;
const settings = (readyTimeoutMs: number): ServiceSettings => ({
  image: 'kaskade',
  serviceAccount: 'default',
  storageRoots: [`file://${kr.stateDir}/data`],
  stateRoot: `file://${kr.stateDir}/data/layers/`,
  readyTimeoutMs,
  env: {},
});

beforeAll(async () => {
  kr = await startKubeRuntime({
    manifests: join(FIXTURE_MANIFESTS, 'layer-controller-rbac.yaml'),
    functionsDir: join(REPO_ROOT, 'functions'),
  });
}, 60_000);

afterAll(async () => {
  await kr.close();
});

describe('layer services on the runtime’s Kubernetes API', () => {
  it('creates a service per layer and waits until each is Ready and answers', async () => {
    const cluster = kubeCluster(await kr.serviceAccount('kaskade-layer-controller'), 'default');
    const endpoints = await ensureLayerServices(cluster, settings(60_000), 'kube', SEED_LAYERS.slice(0, 2));
    expect(endpoints.map((e) => e.name)).toEqual([layerServiceName('kube', 0), layerServiceName('kube', 1)]);
    const health = (await (await fetch(`${endpoints[1]?.url ?? ''}/health`)).json()) as {
      type: string;
      config: unknown;
    };
    expect(health).toMatchObject({ type: 'ConvLayer', config: SEED_LAYERS[1].config });
  });

  it('updates a service that exists (a new generation, the new config served once Ready)', async () => {
    const cluster = kubeCluster(await kr.serviceAccount('kaskade-layer-controller'), 'default');
    const changed = [SEED_LAYERS[0], { type: 'conv', config: { in_channels: 32, out_channels: 16 } }];
    const endpoints = await ensureLayerServices(cluster, settings(60_000), 'kube', changed);
    expect((await cluster.getService(layerServiceName('kube', 1)))?.metadata.generation).toBe(2);
    const health = (await (await fetch(`${endpoints[1]?.url ?? ''}/health`)).json()) as { type: string };
    expect(health.type).toBe('conv');
  });

  it('fails with a TimeoutError naming the service when it is not Ready in time', async () => {
    const cluster = kubeCluster(await kr.serviceAccount('kaskade-layer-controller'), 'default');
    const error = await ensureLayerServices(cluster, settings(1), 'late', [SEED_LAYERS[3]]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/layer-late-0 not Ready within 1 ms/);
  });

  it('an account without create is denied with a ForbiddenError that says so', async () => {
    const cluster = kubeCluster(await kr.serviceAccount('layer-reader'), 'default');
    const error = await ensureLayerServices(cluster, settings(60_000), 'denied', [SEED_LAYERS[3]]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as Error).message).toMatch(/forbidden/i);
  });

  it('deletes a job’s services by label', async () => {
    const cluster = kubeCluster(await kr.serviceAccount('kaskade-layer-controller'), 'default');
    expect((await deleteLayerServices(cluster, 'kube')).sort()).toEqual([
      layerServiceName('kube', 0),
      layerServiceName('kube', 1),
    ]);
    expect(await cluster.listServices('kaskade.dev/layer-job=kube')).toEqual([]);
  });
});
