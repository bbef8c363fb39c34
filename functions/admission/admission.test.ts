// Admission against an in-memory Cluster: create and patch of the type's service, readiness
// waits and their deadline, offloading, the overload case and leases.
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../_shared/errors.js';
import { MemoryCluster, edgeNode } from '../../test/support/memory-cluster.js';
import { Admission } from './admission.js';
import { loadConfig, type AdmissionConfig } from './config.js';
import { EDGE_MEMORY, MIN_SCALE } from './edge-service.js';

const CENTRE = 'http://admission.kaskade-centre.example.com/';

function setup(options: { nodes?: string[]; readiness?: 'auto' | 'manual'; env?: Record<string, string> } = {}) {
  const nodes = (options.nodes ?? ['xavier', 'tx2', 'nano']).map((m, i) => edgeNode(`${m}-${i}`, m));
  const cluster = new MemoryCluster({ nodes, readiness: options.readiness ?? 'auto' });
  let t = 0;
  const config: AdmissionConfig = loadConfig({
    EDGE_CENTRE_URL: CENTRE,
    EDGE_LEASE_S: '30',
    EDGE_READY_TIMEOUT_MS: '200',
    ...options.env,
  });
  const admission = new Admission({ config, cluster, now: () => t });
  return { cluster, admission, advance: (ms: number) => (t += ms) };
}

const minScale = (cluster: MemoryCluster, name: string) =>
  cluster.peek(name)?.spec.template.metadata?.annotations?.[MIN_SCALE];

describe('admission under capacity', () => {
  it('creates the type service with the seed resources and affinity, and answers its URL', async () => {
    const { cluster, admission } = setup();
    const answer = await admission.admit('scalar', 'car-1');
    expect(answer).toEqual({
      url: 'http://edge-scalar.kaskade.example.com',
      service_port: 80,
      offloading: 0,
      type: 'scalar',
      clientID: 'car-1',
      leaseSeconds: 30,
    });
    const svc = cluster.peek('edge-scalar')!;
    const container = svc.spec.template.spec.containers[0]!;
    expect(container.resources).toEqual({
      requests: { memory: EDGE_MEMORY.scalar.request },
      limits: { memory: EDGE_MEMORY.scalar.limit },
    });
    expect(container.env).toContainEqual({ name: 'FUNCTION_TARGET', value: 'edge-scalar' });
    expect(svc.spec.template.spec.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'machine', operator: 'NotIn', values: ['nano'] }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 70, preference: { matchExpressions: [{ key: 'machine', operator: 'In', values: ['xavier'] }] } },
          { weight: 30, preference: { matchExpressions: [{ key: 'machine', operator: 'In', values: ['tx2'] }] } },
        ],
      },
    });
    expect(minScale(cluster, 'edge-scalar')).toBe('1');
  });

  it('raises min-scale per session and patches rather than re-creating', async () => {
    const { cluster, admission } = setup();
    await admission.admit('image', 'a');
    await admission.admit('image', 'b');
    expect(minScale(cluster, 'edge-image')).toBe('2');
    expect(cluster.calls.filter((c) => c.startsWith('apply'))).toEqual(['apply edge-image']);
    expect(cluster.calls).toContain('patch edge-image {"autoscaling.knative.dev/min-scale":"2"}');
    expect(cluster.peek('edge-image')!.spec.template.spec.containers[0]!.resources).toEqual({
      requests: { memory: EDGE_MEMORY.image.request },
      limits: { memory: EDGE_MEMORY.image.limit },
    });
  });

  it('waits for Ready before answering', async () => {
    const { cluster, admission } = setup({ readiness: 'manual', env: { EDGE_READY_TIMEOUT_MS: '60000' } });
    let answered = false;
    const pending = admission.admit('scalar', 'a').then((a) => ((answered = true), a));
    while (!cluster.calls.includes('wait edge-scalar')) await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    cluster.markReady('edge-scalar');
    expect((await pending).offloading).toBe(0);
  });

  it('a service not Ready in time is a 503, and the session is given back', async () => {
    const { cluster, admission } = setup({ readiness: 'manual', env: { EDGE_READY_TIMEOUT_MS: '100' } });
    const error = await admission.admit('scalar', 'a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).httpStatus).toBe(503);
    expect((error as Error).message).toMatch(/edge-scalar was not Ready within 100 ms/);
    expect(admission.sessions.count('scalar')).toBe(0);
    while (minScale(cluster, 'edge-scalar') !== '0') await new Promise((r) => setImmediate(r));
  });
});

describe('admission over capacity', () => {
  it('offloads to the centre once the type is full, and counts types apart', async () => {
    const { admission } = setup({ nodes: ['tx2', 'nano'] });
    expect((await admission.admit('scalar', 'a')).offloading).toBe(0);
    expect(await admission.admit('scalar', 'b')).toEqual({
      url: CENTRE,
      service_port: 80,
      offloading: 1,
      type: 'scalar',
      clientID: 'b',
      leaseSeconds: 0,
    });
    expect((await admission.admit('image', 'b')).offloading).toBe(0);
  });

  it('with no centre configured a full edge is a 503', async () => {
    const { admission } = setup({ nodes: ['nano'], env: { EDGE_CENTRE_URL: '' } });
    await expect(admission.admit('image', 'a')).rejects.toThrow(/no centre is configured/);
  });

  it.each([1, 3, 6])('capacity %i with 4× concurrent admissions admits exactly that many', async (capacity) => {
    const machines =
      capacity % 2 === 0
        ? Array<string>(capacity / 2).fill('xavier')
        : ['tx2', ...Array<string>((capacity - 1) / 2).fill('xavier')];
    const { cluster, admission } = setup({ nodes: [...machines, 'nano'] });
    const answers = await Promise.all(
      Array.from({ length: 4 * capacity }, (_, i) => admission.admit('scalar', `c${i}`)),
    );
    expect(answers.filter((a) => a.offloading === 0)).toHaveLength(capacity);
    expect(answers.filter((a) => a.offloading === 1)).toHaveLength(3 * capacity);
    expect(admission.sessions.count('scalar')).toBe(capacity);
    expect(minScale(cluster, 'edge-scalar')).toBe(String(capacity));
    // A burst shares writes: far fewer min-scale changes (revisions) than admissions.
    expect(cluster.calls.filter((c) => c.startsWith('patch') || c.startsWith('apply')).length).toBeLessThanOrEqual(
      Math.min(capacity, 3),
    );
  });

  it('the centre (capacity rule none) admits everyone without raising min-scale', async () => {
    const { cluster, admission } = setup({ nodes: [], env: { EDGE_CAPACITY_RULE: 'none' } });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => admission.admit('image', `c${i}`)));
    expect(answers.every((a) => a.offloading === 0 && a.url === 'http://edge-image.kaskade.example.com')).toBe(true);
    expect(minScale(cluster, 'edge-image')).toBe('0');
    expect(cluster.calls.filter((c) => c.startsWith('list nodes'))).toEqual([]);
  });
});

describe('leases', () => {
  it('an abandoned session is released by its lease and min-scale comes down', async () => {
    const { cluster, admission, advance } = setup({ nodes: ['tx2'] });
    await admission.admit('scalar', 'abandoned');
    expect((await admission.admit('scalar', 'waiting')).offloading).toBe(1);
    advance(29_000);
    expect(await admission.sweep()).toEqual([]);
    advance(1_000);
    expect((await admission.sweep()).map((s) => s.clientId)).toEqual(['abandoned']);
    expect(minScale(cluster, 'edge-scalar')).toBe('0');
    expect((await admission.admit('scalar', 'waiting')).offloading).toBe(0);
  });

  it('renewal keeps a session; disconnect frees it at once', async () => {
    const { cluster, admission, advance } = setup();
    await admission.admit('image', 'a');
    advance(20_000);
    expect(admission.renew('a').map((s) => s.type)).toEqual(['image']);
    advance(20_000);
    expect(await admission.sweep()).toEqual([]);
    expect((await admission.disconnect('a', 'image')).length).toBe(1);
    expect(minScale(cluster, 'edge-image')).toBe('0');
    expect(() => admission.renew('a')).toThrow(/holds no edge session/);
  });
});
