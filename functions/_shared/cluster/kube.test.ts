// The Cluster implementation against the local runtime's Kubernetes API (no mocks): the same
// client calls a pod on a cluster makes, answered by the runtime's API server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeRuntime, type KubeRuntime } from '../../../test/support/kube-runtime.js';
import { ForbiddenError, TimeoutError } from '../errors.js';
import { clusterFromEnv, kubeCluster } from './kube.js';
import type { Cluster, KnativeService } from './types.js';

function layer(name: string, annotations: Record<string, string> = {}): KnativeService {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, labels: { app: 'layer', job: 'j1' } },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '1', ...annotations } },
        spec: { containers: [{ image: 'kaskade', env: [{ name: 'FUNCTION_TARGET', value: 'echo' }] }] },
      },
    },
  };
}

let kr: KubeRuntime;
let cluster: Cluster;

beforeAll(async () => {
  kr = await startKubeRuntime();
  cluster = kubeCluster(kr.admin(), 'default');
});

afterAll(async () => {
  await kr.close();
});

describe('kubeCluster against the local runtime', () => {
  it('applyService creates a service, then updates its spec and merges its labels', async () => {
    const created = await cluster.applyService(layer('layer-0'));
    expect(created.metadata).toMatchObject({ name: 'layer-0', generation: 1 });
    const changed = layer('layer-0', { 'autoscaling.knative.dev/max-scale': '3' });
    changed.metadata.labels = { stage: 'forward' };
    const updated = await cluster.applyService(changed);
    expect(updated.metadata.generation).toBe(2);
    expect(updated.metadata.labels).toEqual({ app: 'layer', job: 'j1', stage: 'forward' });
    expect(updated.spec.template.metadata?.annotations?.['autoscaling.knative.dev/max-scale']).toBe('3');
  });

  it('waitReady resolves once Ready is True for the current generation', async () => {
    const ready = await cluster.waitReady('layer-0', { timeoutMs: 20_000 });
    expect(ready.status?.observedGeneration).toBe(2);
    expect(ready.status?.latestReadyRevisionName).toBe('layer-0-00002');
    expect((await fetch(`${kr.runtime.url('layer-0')}/`)).status).toBe(200);
  });

  it('waitReady fails with TimeoutError when the service is not Ready in time', async () => {
    await cluster.applyService(layer('slow-layer'));
    await expect(cluster.waitReady('slow-layer', { timeoutMs: 1 })).rejects.toBeInstanceOf(TimeoutError);
    await expect(cluster.waitReady('never-made', { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('patchAnnotations sets and removes template annotations (new generation) and service annotations (same generation)', async () => {
    const withMin = await cluster.patchAnnotations(
      'layer-0',
      { 'autoscaling.knative.dev/min-scale': '1' },
      { template: true },
    );
    expect(withMin.metadata.generation).toBe(3);
    expect(withMin.spec.template.metadata?.annotations?.['autoscaling.knative.dev/min-scale']).toBe('1');
    const removed = await cluster.patchAnnotations(
      'layer-0',
      { 'autoscaling.knative.dev/min-scale': null },
      { template: true },
    );
    expect(removed.spec.template.metadata?.annotations).not.toHaveProperty('autoscaling.knative.dev/min-scale');
    const noted = await cluster.patchAnnotations('layer-0', { 'kaskade.dev/owner': 'controller' });
    expect(noted.metadata.annotations).toEqual({ 'kaskade.dev/owner': 'controller' });
    expect(noted.metadata.generation).toBe(4);
  });

  it('lists services by label selector and nodes by label selector', async () => {
    expect((await cluster.listServices('app=layer,job=j1')).map((s) => s.metadata.name).sort()).toEqual([
      'layer-0',
      'slow-layer',
    ]);
    expect(await cluster.listServices('app=nothing')).toEqual([]);
    const edge = await cluster.listNodes('machine in (xavier,tx2)');
    expect(edge.map((n) => n.name)).toEqual(['xavier-1', 'xavier-2', 'tx2-1']);
    expect(edge[0]?.allocatable).toMatchObject({ cpu: '8', 'nvidia.com/gpu': '1' });
    expect((await cluster.listNodes()).length).toBe(4);
  });

  it('deleteService deletes, and deleting what is gone is not an error', async () => {
    await cluster.deleteService('slow-layer');
    expect(await cluster.getService('slow-layer')).toBeUndefined();
    await cluster.deleteService('slow-layer');
  });

  it('turns a 403 into ForbiddenError', async () => {
    const limited = kubeCluster(await kr.serviceAccount('controller'), 'default');
    expect((await limited.getService('layer-0'))?.metadata.name).toBe('layer-0');
    await expect(limited.deleteService('layer-0')).rejects.toBeInstanceOf(ForbiddenError);
    expect(await cluster.getService('layer-0')).toBeDefined();
  });

  it('clusterFromEnv finds the API through KUBECONFIG, in the namespace KASKADE_NAMESPACE names', async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kr.runtime.kubeApi.kubeconfig;
    try {
      const fromEnv = clusterFromEnv({ KASKADE_NAMESPACE: 'default' });
      expect(fromEnv.namespace).toBe('default');
      expect((await fromEnv.getService('layer-0'))?.metadata.name).toBe('layer-0');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});
