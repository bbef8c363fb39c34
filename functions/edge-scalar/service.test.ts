// edge-scalar over WebSocket and HTTP on the Functions Framework's server: the `Model ready`
// handshake, predictions, bad windows closing with a reason, 503 before the model is ready,
// and lease renewals from the client's traffic.
import { http } from '@google-cloud/functions-framework';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseRenewer } from '../_shared/edge/lease-renewer.js';
import { ModelHolder } from '../_shared/edge/model-holder.js';
import { initEngine } from '../_shared/engine/index.js';
import { fakeAdmission, openWs, serveFunction, type Served } from '../../test/support/edge.js';
import { DRIVERS, WINDOW_ROWS, generateDriverRows, generateDrivingWindows } from './driving-data.js';
import { DriverClassifier, trainDriverModel } from './driver-model.js';
import { MODEL_READY, createScalarService } from './service.js';

let served: Served;
let pending: Served;
let admission: Awaited<ReturnType<typeof fakeAdmission>>;
let classifier: DriverClassifier;

beforeAll(async () => {
  const { tf } = await initEngine();
  const { model } = await trainDriverModel(tf, generateDrivingWindows(4, 1), { epochs: 1, units: 8 });
  classifier = new DriverClassifier(tf, model);
  admission = await fakeAdmission();
  const renewer = new LeaseRenewer({ admissionUrl: admission.url, type: 'scalar', intervalMs: 60_000 });
  const ready = createScalarService({
    model: new ModelHolder('test', () => Promise.resolve(classifier)),
    renewer,
    maxWindowBytes: 64 * 1024,
  });
  http('edge-scalar-test', ready.handler);
  served = await serveFunction('edge-scalar-test', ready.upgrade);
  const loading = createScalarService({
    model: new ModelHolder('never', () => new Promise<DriverClassifier>(() => undefined)),
    maxWindowBytes: 64 * 1024,
  });
  http('edge-scalar-loading', loading.handler);
  pending = await serveFunction('edge-scalar-loading', loading.upgrade);
}, 60_000);

afterAll(async () => {
  await Promise.all([served.close(), pending.close(), admission.close()]);
  classifier.dispose();
});

const windowOf = (driver: number, seed: number) => JSON.stringify(generateDriverRows(driver, 1, seed));

describe('edge-scalar over WebSocket', () => {
  it('answers the first window Model ready, then one prediction per window', async () => {
    const c = await openWs(`${served.ws}/?clientID=car-1`);
    c.socket.send(windowOf(2, 1));
    expect(await c.next()).toBe(MODEL_READY);
    for (let i = 0; i < 3; i += 1) {
      c.socket.send(windowOf(2, 10 + i));
      const answer = JSON.parse(await c.next()) as { driver: string; confidence: number; executionMs: number };
      expect(DRIVERS).toContain(answer.driver);
      expect(answer.confidence).toBeGreaterThan(0);
      expect(answer.confidence).toBeLessThanOrEqual(100);
      expect(answer.executionMs).toBeGreaterThan(0);
    }
    c.socket.close(1000);
    expect((await c.closed).code).toBe(1000);
    await admission.renewed(1);
    expect(admission.renewals).toContain('POST /app-renew?clientID=car-1&type=scalar');
  });

  it.each([
    {
      name: 'wrong row count',
      message: JSON.stringify(generateDriverRows(1, 1, 1).slice(0, WINDOW_ROWS - 1)),
      reason: /has 40 rows, got 39/,
    },
    {
      name: 'a non-numeric cell',
      message: JSON.stringify(generateDriverRows(1, 1, 1).map((r, i) => (i === 0 ? ['x', ...r.slice(1)] : r))),
      reason: /row 1, speed_kmh: "x"/,
    },
    {
      name: 'NaN',
      message: generateDriverRows(1, 1, 1)
        .map((r, i) => (i === 7 ? [...r.slice(0, 14), NaN] : r).join(','))
        .join('\n'),
      reason: /row 8, coolant_temp_c: "NaN"/,
    },
  ])('closes with 1007 and the reason on $name, before or after the handshake', async ({ message, reason }) => {
    const first = await openWs(served.ws);
    first.socket.send(message);
    const closedFirst = await first.closed;
    expect(closedFirst.code).toBe(1007);
    expect(closedFirst.reason).toMatch(reason);
    const later = await openWs(served.ws);
    later.socket.send(windowOf(0, 3));
    expect(await later.next()).toBe(MODEL_READY);
    later.socket.send(message);
    expect(await later.closed).toMatchObject({ code: 1007 });
  });

  it('closes with 1009 on a message over the limit', async () => {
    const c = await openWs(served.ws);
    c.socket.send('1'.repeat(65 * 1024));
    expect((await c.closed).code).toBe(1009);
  });

  it('refuses the upgrade with 503 while the model loads', async () => {
    const error = await openWs(pending.ws).then(
      () => 'opened',
      (e: Error) => e.message,
    );
    expect(error).toMatch(/503/);
  });
});

describe('edge-scalar over HTTP', () => {
  it('POST /ready and /predict', async () => {
    const ready = await fetch(`${served.base}/ready`, {
      method: 'POST',
      body: windowOf(4, 1),
      headers: { 'content-type': 'text/plain' },
    });
    expect(await ready.json()).toEqual({ status: MODEL_READY });
    const predicted = await fetch(`${served.base}/predict?clientID=car-9`, {
      method: 'POST',
      body: windowOf(4, 2),
      headers: { 'content-type': 'text/plain' },
    });
    expect(predicted.status).toBe(200);
    expect(DRIVERS).toContain(((await predicted.json()) as { driver: string }).driver);
  });

  it.each([
    { name: 'wrong row count', body: JSON.stringify([[1, 2]]), status: 400, error: /has 40 rows/ },
    {
      name: 'NaN',
      body: generateDriverRows(1, 1, 1)
        .map((r, i) => (i === 0 ? ['NaN', ...r.slice(1)] : r).join(','))
        .join('\n'),
      status: 400,
      error: /not a finite number/,
    },
    { name: 'a malformed clientID', body: windowOf(1, 1), status: 400, error: /clientID/, query: '?clientID=%3Cx%3E' },
  ])('$name → $status', async ({ body, status, error, query }) => {
    const res = await fetch(`${served.base}/predict${query ?? ''}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
  });

  it('healthz is 503 until the model is ready; predictions too', async () => {
    expect((await fetch(`${served.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${pending.base}/healthz`)).status).toBe(503);
    const res = await fetch(`${pending.base}/predict`, {
      method: 'POST',
      body: windowOf(1, 1),
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(503);
  });

  it('unknown routes are 404, GET on /predict is 405', async () => {
    expect((await fetch(`${served.base}/nope`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${served.base}/predict`)).status).toBe(405);
  });
});
