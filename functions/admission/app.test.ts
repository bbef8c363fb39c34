// Admission's HTTP surface on the Functions Framework's own server: seed-compatible answers,
// POST bodies, and a clear 4xx for bad input.
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCluster, edgeNode } from '../../test/support/memory-cluster.js';
import { Admission } from './admission.js';
import { createAdmissionHandler } from './app.js';
import { loadConfig } from './config.js';

const cluster = new MemoryCluster({ nodes: [edgeNode('x1', 'xavier'), edgeNode('n1', 'nano')] });
const admission = new Admission({ config: loadConfig({ EDGE_CENTRE_URL: 'http://centre.example.com' }), cluster });
http('admission-app-test', createAdmissionHandler(admission));

describe('admission HTTP', () => {
  const server = getTestServer('admission-app-test');
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('GET /app-service admits with the seed fields', async () => {
    const res = await fetch(`${base}/app-service?type=scalar&clientID=car-1&clienttime=123`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      url: 'http://edge-scalar.kaskade.example.com',
      service_port: 80,
      offloading: 0,
    });
  });

  it('POST /app-service takes a JSON or form body; full → offloading 1', async () => {
    const json = await fetch(`${base}/app-service`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'scalar', clientID: 'car-2' }),
    });
    expect(await json.json()).toMatchObject({ offloading: 0 });
    const form = await fetch(`${base}/app-service`, {
      method: 'POST',
      body: new URLSearchParams({ type: 'scalar', clientID: 'car-3' }),
    });
    expect(await form.json()).toMatchObject({ offloading: 1, url: 'http://centre.example.com/' });
  });

  it('/app-renew and /app-disconnect', async () => {
    await fetch(`${base}/app-service?type=image&clientID=cam-1`);
    const renew = await fetch(`${base}/app-renew?clientID=cam-1`, { method: 'POST' });
    expect(await renew.json()).toEqual({ clientID: 'cam-1', renewed: ['image'] });
    const bye = await fetch(`${base}/app-disconnect?clientID=cam-1&type=image`);
    expect(await bye.json()).toEqual({ clientID: 'cam-1', released: ['image'] });
    const again = await fetch(`${base}/app-renew?clientID=cam-1`);
    expect(again.status).toBe(404);
    const status = await fetch(`${base}/status`);
    expect(await status.json()).toEqual({ capacityRule: 'nodes', capacity: 2, sessions: { scalar: 2, image: 0 } });
  });

  it.each([
    { name: 'unknown type', path: '/app-service?type=video&clientID=a', status: 400, error: /unknown type "video"/ },
    { name: 'missing type', path: '/app-service?clientID=a', status: 400, error: /type is required/ },
    { name: 'missing clientID', path: '/app-service?type=scalar', status: 400, error: /clientID is required/ },
    {
      name: 'bad clientID',
      path: '/app-service?type=scalar&clientID=%3Cx%3E',
      status: 400,
      error: /clientID is required/,
    },
    {
      name: 'repeated type',
      path: '/app-service?type=scalar&type=image&clientID=a',
      status: 400,
      error: /unknown type/,
    },
    { name: 'unknown route', path: '/deploy', status: 404, error: /no route/ },
  ])('$name → $status', async ({ path, status, error }) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
  });

  it('other methods → 405', async () => {
    const res = await fetch(`${base}/app-service?type=scalar&clientID=a`, { method: 'DELETE' });
    expect(res.status).toBe(405);
  });
});
