// The runtime's Kubernetes API driven by the real @kubernetes/client-node: create, conflict,
// patch, delete, watch order, errors as Status objects, RBAC, what workers get, and restarts.
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReply } from '../../../test/fixtures/functions/echo/echo.js';
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import { kubeCluster } from '../../../functions/_shared/cluster/kube.js';
import { startKubeRuntime, type KubeRuntime } from '../../../test/support/kube-runtime.js';

const ref = { group: 'serving.knative.dev', version: 'v1', namespace: 'default', plural: 'services' };

function echoService(
  name: string,
  extra: { annotations?: Record<string, string>; serviceAccountName?: string } = {},
): KnativeService {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, labels: { app: 'kube-api-test' } },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '1', ...extra.annotations } },
        spec: {
          ...(extra.serviceAccountName ? { serviceAccountName: extra.serviceAccountName } : {}),
          containers: [{ image: 'kaskade', env: [{ name: 'FUNCTION_TARGET', value: 'echo' }] }],
        },
      },
    },
  };
}

async function apiError(p: Promise<unknown>): Promise<{
  code: number;
  body: { reason?: string; message?: string; details?: { causes?: Array<{ field: string }> } };
}> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException)
      return { code: e.code, body: (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as never };
    throw e;
  }
  throw new Error('expected the call to fail');
}

let kr: KubeRuntime;
let custom: CustomObjectsApi;

beforeAll(async () => {
  kr = await startKubeRuntime();
  custom = kr.admin().makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await kr.close();
});

describe('services through @kubernetes/client-node', () => {
  it('lists the manifest service with a Knative status', async () => {
    const list = (await custom.listNamespacedCustomObject(ref)) as { items: KnativeService[] };
    const echo = list.items.find((s) => s.metadata.name === 'echo');
    expect(echo?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(echo?.status?.latestReadyRevisionName).toBe('echo-00001');
  });

  it('creates a service (201), which becomes Ready and serves; creating it again is 409 AlreadyExists', async () => {
    const created = await custom.createNamespacedCustomObjectWithHttpInfo({ ...ref, body: echoService('made') });
    expect(created.httpStatusCode).toBe(201);
    const body = created.data as KnativeService;
    expect(body.metadata).toMatchObject({ name: 'made', namespace: 'default', generation: 1 });
    const ready = await kubeCluster(kr.admin(), 'default').waitReady('made', { timeoutMs: 20_000 });
    expect(ready.status).toMatchObject({
      observedGeneration: 1,
      latestReadyRevisionName: 'made-00001',
      latestCreatedRevisionName: 'made-00001',
    });
    expect(ready.status?.conditions?.map((c) => [c.type, c.status]).sort()).toEqual([
      ['ConfigurationsReady', 'True'],
      ['Ready', 'True'],
      ['RoutesReady', 'True'],
    ]);
    const res = await fetch(`${kr.runtime.url('made')}/hi`);
    expect(res.status).toBe(200);

    const again = await apiError(custom.createNamespacedCustomObject({ ...ref, body: echoService('made') }));
    expect(again.code).toBe(409);
    expect(again.body.reason).toBe('AlreadyExists');
  });

  it('rejects an update with a stale resourceVersion (409 Conflict) and takes a fresh one', async () => {
    const current = (await custom.getNamespacedCustomObject({ ...ref, name: 'made' })) as KnativeService;
    const stale = structuredClone(current);
    stale.metadata.resourceVersion = String(Number(current.metadata.resourceVersion) - 1);
    stale.metadata.labels = { app: 'stale' };
    const conflict = await apiError(custom.replaceNamespacedCustomObject({ ...ref, name: 'made', body: stale }));
    expect(conflict.code).toBe(409);
    expect(conflict.body.reason).toBe('Conflict');
    const unstated = structuredClone(current);
    delete unstated.metadata.resourceVersion;
    const missing = await apiError(custom.replaceNamespacedCustomObject({ ...ref, name: 'made', body: unstated }));
    expect(missing.code).toBe(422);
    expect(missing.body.details?.causes?.[0]?.field).toBe('metadata.resourceVersion');
    const fresh = structuredClone(current);
    fresh.metadata.labels = { app: 'fresh' };
    const replaced = (await custom.replaceNamespacedCustomObject({
      ...ref,
      name: 'made',
      body: fresh,
    })) as KnativeService;
    expect(replaced.metadata.labels).toEqual({ app: 'fresh' });
    expect(replaced.metadata.generation).toBe(1);
    expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(Number(current.metadata.resourceVersion));
  });

  it('patches with a merge patch (spec change: new generation, new revision) and a JSON patch', async () => {
    const merged = (await custom.patchNamespacedCustomObject(
      {
        ...ref,
        name: 'made',
        body: { spec: { template: { metadata: { annotations: { 'autoscaling.knative.dev/max-scale': '2' } } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as KnativeService;
    expect(merged.metadata.generation).toBe(2);
    expect(merged.spec.template.metadata?.annotations).toMatchObject({
      'autoscaling.knative.dev/initial-scale': '1',
      'autoscaling.knative.dev/max-scale': '2',
    });
    const ready = await kubeCluster(kr.admin(), 'default').waitReady('made', { timeoutMs: 20_000 });
    expect(ready.status?.latestReadyRevisionName).toBe('made-00002');

    const patched = (await custom.patchNamespacedCustomObject(
      { ...ref, name: 'made', body: [{ op: 'add', path: '/metadata/labels/tier', value: 'edge' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )) as KnativeService;
    expect(patched.metadata.labels).toEqual({ app: 'fresh', tier: 'edge' });
    expect(patched.metadata.generation).toBe(2);
  });

  it('deletes a service: 404 afterwards, and its workers drain and stop', async () => {
    await custom.deleteNamespacedCustomObject({ ...ref, name: 'made' });
    expect((await apiError(custom.getNamespacedCustomObject({ ...ref, name: 'made' }))).code).toBe(404);
    expect(kr.runtime.status().services.map((s) => s.name)).not.toContain('made');
    expect((await fetch(`${kr.runtime.url('made')}/hi`)).status).toBe(404);
  });

  it('streams watch events in order: ADDED, MODIFIED (status), DELETED', async () => {
    const start = (await custom.listNamespacedCustomObject(ref)) as { metadata: { resourceVersion: string } };
    const events: Array<[string, string, number]> = [];
    let sawDelete!: () => void;
    const deleted = new Promise<void>((r) => (sawDelete = r));
    const controller = await new Watch(kr.admin()).watch(
      '/apis/serving.knative.dev/v1/namespaces/default/services',
      { resourceVersion: start.metadata.resourceVersion, fieldSelector: 'metadata.name=watched' },
      (type, obj: KnativeService) => {
        events.push([type, obj.metadata.name, Number(obj.metadata.resourceVersion)]);
        if (type === 'DELETED') sawDelete();
      },
      () => undefined,
    );
    await custom.createNamespacedCustomObject({ ...ref, body: echoService('watched') });
    await kubeCluster(kr.admin(), 'default').waitReady('watched', { timeoutMs: 20_000 });
    await custom.deleteNamespacedCustomObject({ ...ref, name: 'watched' });
    await deleted;
    controller.abort();
    expect(events[0]?.[0]).toBe('ADDED');
    expect(events.at(-1)?.[0]).toBe('DELETED');
    expect(events.slice(1, -1).every(([t]) => t === 'MODIFIED')).toBe(true);
    const versions = events.map(([, , v]) => v);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(events.map(([, n]) => n))).toEqual(new Set(['watched']));
  });
});

describe('bad requests', () => {
  const cases: Array<{ name: string; body: unknown; code: number; field?: string }> = [
    {
      name: 'no containers',
      body: { ...echoService('bad'), spec: { template: { spec: { containers: [] } } } },
      code: 422,
      field: 'spec.template.spec.containers',
    },
    {
      name: 'no FUNCTION_TARGET',
      body: { ...echoService('bad'), spec: { template: { spec: { containers: [{ image: 'x' }] } } } },
      code: 422,
      field: 'spec.template.spec.containers[0].env',
    },
    {
      name: 'a function that does not exist',
      body: {
        ...echoService('bad'),
        spec: { template: { spec: { containers: [{ env: [{ name: 'FUNCTION_TARGET', value: 'nope' }] }] } } },
      },
      code: 422,
      field: 'spec.template.spec.containers[0].env',
    },
    {
      name: 'a bad autoscaling window',
      body: echoService('bad', { annotations: { 'autoscaling.knative.dev/window': '1s' } }),
      code: 422,
      field: 'spec.template.metadata.annotations.autoscaling.knative.dev/window',
    },
    { name: 'the wrong kind', body: { ...echoService('bad'), kind: 'Deployment' }, code: 422, field: 'kind' },
    { name: 'no name', body: { ...echoService('bad'), metadata: {} }, code: 422, field: 'metadata.name' },
  ];
  it.each(cases)('$name → $code naming $field', async ({ body, code, field }) => {
    const e = await apiError(custom.createNamespacedCustomObject({ ...ref, body }));
    expect(e.code).toBe(code);
    expect(e.body.reason).toBe('Invalid');
    expect(e.body.details?.causes?.[0]?.field).toBe(field);
    expect(e.body.message).toContain(field);
  });

  it('answers a body that is not JSON with 400 BadRequest', async () => {
    const kc = kr.admin();
    const res = await rawRequest(
      kc,
      'POST',
      '/apis/serving.knative.dev/v1/namespaces/default/services',
      '{"apiVersion": ',
      'application/json',
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
  });
});

describe('RBAC and what a worker gets', () => {
  it("refuses a verb the ServiceAccount's Role lacks (403) and changes nothing", async () => {
    const sa = await kr.serviceAccount('controller');
    const asController = sa.makeApiClient(CustomObjectsApi);
    expect(((await asController.listNamespacedCustomObject(ref)) as { items: unknown[] }).items.length).toBeGreaterThan(
      0,
    );
    const denied = await apiError(asController.deleteNamespacedCustomObject({ ...ref, name: 'echo' }));
    expect(denied.code).toBe(403);
    expect(denied.body.reason).toBe('Forbidden');
    expect(denied.body.message).toContain('system:serviceaccount:default:controller');
    expect(await custom.getNamespacedCustomObject({ ...ref, name: 'echo' })).toMatchObject({
      metadata: { name: 'echo' },
    });
    const nodes = await sa.makeApiClient(CoreV1Api).listNode({ labelSelector: 'machine=xavier' });
    expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['xavier-1', 'xavier-2']);
  });

  it('gives a ServiceAccount without bindings nothing (403 on list)', async () => {
    const nobody = (await kr.serviceAccount('nobody')).makeApiClient(CustomObjectsApi);
    expect((await apiError(nobody.listNamespacedCustomObject(ref))).code).toBe(403);
  });

  it("gives a worker its ServiceAccount's kubeconfig and the API's address, which loadFromDefault() finds", async () => {
    await custom.createNamespacedCustomObject({
      ...ref,
      body: echoService('as-controller', { serviceAccountName: 'controller' }),
    });
    await kubeCluster(kr.admin(), 'default').waitReady('as-controller', { timeoutMs: 20_000 });
    const reply = (await (await fetch(`${kr.runtime.url('as-controller')}/`)).json()) as EchoReply;
    const environ = Object.fromEntries(
      (await readFile(`/proc/${reply.pid}/environ`, 'utf8'))
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    expect(environ.KUBERNETES_SERVICE_HOST).toBe('127.0.0.1');
    expect(environ.KUBERNETES_SERVICE_PORT).toBe(String(kr.runtime.kubeApi.port));
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = environ.KUBECONFIG;
    const kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
    const denied = await apiError(
      kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...ref, name: 'as-controller' }),
    );
    expect(denied.code).toBe(403);
    expect(
      (
        (await kc
          .makeApiClient(CustomObjectsApi)
          .getNamespacedCustomObject({ ...ref, name: 'as-controller' })) as KnativeService
      ).metadata.name,
    ).toBe('as-controller');
  });
});

describe('restart', () => {
  it('keeps services created through the API, runs them again, and keeps the kubeconfig valid', async () => {
    await custom.createNamespacedCustomObject({ ...ref, body: echoService('survivor') });
    await kr.restart();
    const after = kr.admin().makeApiClient(CustomObjectsApi);
    const names = ((await after.listNamespacedCustomObject(ref)) as { items: KnativeService[] }).items.map(
      (s) => s.metadata.name,
    );
    expect(names).toEqual(expect.arrayContaining(['echo', 'survivor', 'as-controller']));
    await kubeCluster(kr.admin(), 'default').waitReady('survivor', { timeoutMs: 20_000 });
    expect((await fetch(`${kr.runtime.url('survivor')}/`)).status).toBe(200);
  });
});

async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body: string,
  contentType: string,
): Promise<{ status: number; body: unknown }> {
  const opts: RequestOptions & { headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...opts,
        method,
        hostname: server.hostname,
        port: server.port,
        path,
        headers: { ...opts.headers, 'content-type': contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as unknown }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
