// The edge workload's manifests: the edge and centre overlays render and validate, admission's
// rights are exactly what it needs, and the services admission creates pass the same schemas.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EDGE_TYPES } from '../functions/admission/capacity.js';
import { loadConfig } from '../functions/admission/config.js';
import { edgeServiceManifest } from '../functions/admission/edge-service.js';
import { renderKustomize } from '../test/support/kustomize.js';
import { validateManifests, type Resource } from './validate.js';

const here = dirname(fileURLToPath(import.meta.url));
const render = (dir: string): Resource[] => renderKustomize(join(here, dir));
const find = (rs: Resource[], kind: string, name: string, namespace?: string): Resource & Record<string, unknown> => {
  const r = rs.find(
    (x) =>
      x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace),
  );
  if (!r) throw new Error(`${kind}/${name} missing`);
  return r as Resource & Record<string, unknown>;
};
type Env = Array<{ name: string; value?: string }>;
const envOf = (svc: Resource): Record<string, string | undefined> =>
  Object.fromEntries(
    (svc.spec as { template: { spec: { containers: Array<{ env: Env }> } } }).template.spec.containers[0]!.env.map(
      (e) => [e.name, e.value],
    ),
  );

describe('edge manifests', () => {
  it.each(['overlays/edge', 'overlays/centre', 'overlays/edge-local'])('%s validates with no problems', (dir) => {
    expect(validateManifests(render(dir))).toEqual([]);
  });

  it('the edge admission counts nodes, sends overflow to the centre, and runs as one pod', () => {
    const rs = render('overlays/edge');
    const svc = find(rs, 'Service', 'admission', 'kaskade');
    expect(envOf(svc)).toMatchObject({
      FUNCTION_TARGET: 'admission',
      EDGE_CAPACITY_RULE: 'nodes',
      EDGE_NODE_WEIGHTS: 'xavier=2,tx2=1,nano=0',
      EDGE_CENTRE_URL: 'http://admission.kaskade-centre.svc.cluster.local/',
    });
    const annotations = (svc.spec as { template: { metadata: { annotations: Record<string, string> } } }).template
      .metadata.annotations;
    expect(annotations).toMatchObject({
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '1',
    });
    expect(() => loadConfig(envOf(svc))).not.toThrow();
  });

  it('admission writes only Knative Services of its namespace and only reads nodes', () => {
    const rs = render('overlays/edge');
    expect(find(rs, 'Role', 'edge-admission', 'kaskade').rules).toEqual([
      {
        apiGroups: ['serving.knative.dev'],
        resources: ['services'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
      },
    ]);
    expect(find(rs, 'ClusterRole', 'kaskade-edge-node-reader').rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(find(rs, 'ClusterRoleBinding', 'kaskade-edge-node-reader').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'kaskade-admission', namespace: 'kaskade' },
    ]);
    expect(find(rs, 'RoleBinding', 'edge-admission', 'kaskade').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'kaskade-admission', namespace: 'kaskade' },
    ]);
  });

  it('the centre admits without a capacity rule and gets no node rights', () => {
    const rs = render('overlays/centre');
    expect(envOf(find(rs, 'Service', 'admission', 'kaskade-centre'))).toEqual({
      FUNCTION_TARGET: 'admission',
      EDGE_CAPACITY_RULE: 'none',
      EDGE_READY_TIMEOUT_MS: '60000',
    });
    expect(rs.filter((r) => r.kind.startsWith('Cluster'))).toEqual([]);
    expect(rs.every((r) => r.metadata.namespace === 'kaskade-centre')).toBe(true);
  });

  it.each(EDGE_TYPES)('the %s service admission creates passes the Knative schemas', (type) => {
    const config = loadConfig({
      EDGE_ADMISSION_URL: 'http://admission.kaskade.svc.cluster.local/',
      EDGE_SCALAR_MODEL_URI: 'file:///var/lib/kaskade/models/edge-scalar/',
    });
    const manifest = {
      ...edgeServiceManifest(type, 3, config),
      metadata: { ...edgeServiceManifest(type, 3, config).metadata, namespace: 'kaskade' },
    };
    const account: Resource = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'kaskade-function', namespace: 'kaskade' },
    };
    expect(validateManifests([manifest as unknown as Resource, account])).toEqual([]);
  });
});
