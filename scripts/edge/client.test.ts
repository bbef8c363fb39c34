// The edge client end to end in one process: an edge admission with room for one scalar
// session, a centre admission without a capacity rule, and an edge-scalar service behind each.
// The first client streams at the edge; the second is offloaded and streams at the centre.
import { http } from '@google-cloud/functions-framework';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admission } from '../../functions/admission/admission.js';
import { createAdmissionHandler } from '../../functions/admission/app.js';
import { loadConfig } from '../../functions/admission/config.js';
import { ModelHolder } from '../../functions/_shared/edge/model-holder.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { generateDrivingWindows } from '../../functions/edge-scalar/driving-data.js';
import { DriverClassifier, trainDriverModel } from '../../functions/edge-scalar/driver-model.js';
import { createScalarService } from '../../functions/edge-scalar/service.js';
import { serveFunction, type Served } from '../../test/support/edge.js';
import { MemoryCluster, edgeNode } from '../../test/support/memory-cluster.js';
import { parseDuration, reachable, runEdgeClient } from './client.js';

const servers: Served[] = [];
let edgeAdmission: Admission;
let edgeUrl = '';

beforeAll(async () => {
  const { tf } = await initEngine();
  const { model } = await trainDriverModel(tf, generateDrivingWindows(2, 1), { epochs: 1, units: 4 });
  const classifier = new DriverClassifier(tf, model);
  for (const site of ['edge', 'centre'] as const) {
    const service = createScalarService({
      model: new ModelHolder(site, () => Promise.resolve(classifier)),
      maxWindowBytes: 1 << 20,
    });
    http(`client-test-scalar-${site}`, service.handler);
    servers.push(await serveFunction(`client-test-scalar-${site}`, service.upgrade));
  }
  const [edgeScalar, centreScalar] = servers as [Served, Served];
  const centre = new Admission({
    config: loadConfig({ EDGE_CAPACITY_RULE: 'none' }),
    cluster: new MemoryCluster({ urlOf: () => centreScalar.base }),
  });
  http('client-test-centre', createAdmissionHandler(centre));
  const centreServed = await serveFunction('client-test-centre');
  servers.push(centreServed);
  edgeAdmission = new Admission({
    config: loadConfig({ EDGE_CENTRE_URL: centreServed.base }),
    cluster: new MemoryCluster({
      nodes: [edgeNode('t1', 'tx2'), edgeNode('n1', 'nano')],
      urlOf: () => edgeScalar.base,
    }),
  });
  http('client-test-edge', createAdmissionHandler(edgeAdmission));
  const edgeServed = await serveFunction('client-test-edge');
  servers.push(edgeServed);
  edgeUrl = edgeServed.base;
}, 60_000);

afterAll(() => Promise.all(servers.map((s) => s.close())));

describe('edge client', () => {
  it('streams at the edge, and a second client is offloaded to the centre and streams there', async () => {
    const first = await runEdgeClient({
      type: 'scalar',
      admissionUrl: edgeUrl,
      durationMs: 300,
      clientId: 'car-1',
      keepSession: true,
    });
    expect(first.placement).toBe('edge');
    expect(first.serviceUrl).toBe(servers[0]!.base);
    expect(first.requests).toBeGreaterThan(0);
    expect(first.latenciesMs).toHaveLength(first.requests);
    expect(first.bytesSent).toBeGreaterThan(first.requests * 1000);
    expect(first.bytesReceived).toBeGreaterThan(0);

    const second = await runEdgeClient({
      type: 'scalar',
      admissionUrl: edgeUrl,
      durationMs: 300,
      clientId: 'car-2',
      http: true,
    });
    expect(second.placement).toBe('centre');
    expect(second.serviceUrl).toBe(servers[1]!.base);
    expect(second.requests).toBeGreaterThan(0);
    expect(edgeAdmission.sessions.count('scalar')).toBe(1);
  });

  it('gives its edge session back when it ends', async () => {
    await edgeAdmission.disconnect('car-1');
    const report = await runEdgeClient({ type: 'scalar', admissionUrl: edgeUrl, durationMs: 100, clientId: 'car-3' });
    expect(report.placement).toBe('edge');
    expect(edgeAdmission.sessions.count('scalar')).toBe(0);
  });
});

describe('reachable', () => {
  it.each([
    { raw: 'http://edge-scalar.kaskade.localhost:8080', want: 'http://127.0.0.1:8080/kaskade/edge-scalar/' },
    { raw: 'http://admission.kaskade-centre.localhost:9000/', want: 'http://127.0.0.1:9000/kaskade-centre/admission/' },
    { raw: 'https://edge-image.kaskade.example.com', want: 'https://edge-image.kaskade.example.com/' },
    { raw: 'http://127.0.0.1:8080/kaskade/admission', want: 'http://127.0.0.1:8080/kaskade/admission/' },
    {
      raw: 'http://admission.kaskade-centre.svc.cluster.local/',
      want: 'http://admission.kaskade-centre.svc.cluster.local/',
    },
    {
      raw: 'http://admission.kaskade-centre.svc.cluster.local/',
      ingress: 'http://127.0.0.1:8080',
      want: 'http://127.0.0.1:8080/kaskade-centre/admission/',
    },
  ])('$raw', ({ raw, ingress, want }) => {
    expect(reachable(raw, ingress)).toBe(want);
  });
});

describe('parseDuration', () => {
  it.each([
    { raw: '30s', want: 30_000 },
    { raw: '2m', want: 120_000 },
    { raw: '1500ms', want: 1500 },
    { raw: '5', want: 5000 },
  ])('$raw', ({ raw, want }) => {
    expect(parseDuration(raw)).toBe(want);
  });
  it('refuses nonsense', () => {
    expect(() => parseDuration('soon')).toThrow(/--duration/);
  });
});
