// edge-image over HTTP and WebSocket: top-5 answers for bytes and base64, 4xx and 1007 closes
// for what is not an image, 503 until the model is ready.
import { http } from '@google-cloud/functions-framework';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelHolder } from '../_shared/edge/model-holder.js';
import { initEngine } from '../_shared/engine/index.js';
import { openWs, serveFunction, type Served } from '../../test/support/edge.js';
import { DATASET_LABELS, TfjsImageModel, type Classification, type ImageModel } from './image-model.js';
import { buildMobileNet } from './mobilenet.js';
import { createImageService } from './service.js';

let served: Served;
let pending: Served;
let model: TfjsImageModel;
let png: Buffer;

beforeAll(async () => {
  const { tf } = await initEngine();
  const net = buildMobileNet(tf, { classes: 10, inputSize: 32, alpha: 0.25 });
  net.setUserDefinedMetadata({
    kind: 'kaskade.edge-image/v1',
    labels: [...DATASET_LABELS['fashion-mnist:debian']!],
    inputSize: 32,
    dataset: 'test',
  });
  model = new TfjsImageModel(tf, net);
  const ready = createImageService({
    model: new ModelHolder('test', () => Promise.resolve(model)),
    maxImageBytes: 256 * 1024,
  });
  http('edge-image-test', ready.handler);
  served = await serveFunction('edge-image-test', ready.upgrade);
  const loading = createImageService({
    model: new ModelHolder('never', () => new Promise<ImageModel>(() => undefined)),
    maxImageBytes: 1024,
  });
  http('edge-image-loading', loading.handler);
  pending = await serveFunction('edge-image-loading', loading.upgrade);
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .png()
    .toBuffer();
});

afterAll(async () => {
  await Promise.all([served.close(), pending.close()]);
  model.dispose();
});

function expectTop5(answer: Classification): void {
  expect(answer.top5).toHaveLength(5);
  const ps = answer.top5.map((t) => t.probability);
  expect([...ps].sort((a, b) => b - a)).toEqual(ps);
  expect(DATASET_LABELS['fashion-mnist:debian']).toContain(answer.top5[0]!.label);
  expect(answer.executionMs).toBeGreaterThan(0);
}

describe('edge-image over HTTP', () => {
  it.each([
    { name: 'PNG bytes', body: () => new Uint8Array(png), type: 'image/png' },
    { name: 'octet-stream', body: () => new Uint8Array(png), type: 'application/octet-stream' },
    { name: 'base64 text', body: () => png.toString('base64'), type: 'text/plain' },
    { name: 'JSON base64', body: () => JSON.stringify({ image: png.toString('base64') }), type: 'application/json' },
  ])('POST /classify with $name → top-5', async ({ body, type }) => {
    const res = await fetch(`${served.base}/classify`, {
      method: 'POST',
      body: body(),
      headers: { 'content-type': type },
    });
    expect(res.status).toBe(200);
    expectTop5((await res.json()) as Classification);
  });

  it.each([
    {
      name: 'non-image bytes',
      body: new TextEncoder().encode('%PDF-1.4 not an image at all'),
      type: 'application/octet-stream',
      status: 400,
      error: /not a readable image/,
    },
    {
      name: 'text that is not base64',
      body: new TextEncoder().encode('hello there!'),
      type: 'text/plain',
      status: 400,
      error: /not base64/,
    },
    { name: 'an empty body', body: new Uint8Array(0), type: 'image/png', status: 400, error: /empty image/ },
  ])('$name → $status', async ({ body, type, status, error }) => {
    const res = await fetch(`${served.base}/classify`, { method: 'POST', body, headers: { 'content-type': type } });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
  });

  it('a body over the limit → 413; 503 while loading; 404 and 405', async () => {
    const big = await fetch(`${pending.base}/classify`, {
      method: 'POST',
      body: new Uint8Array(4096).fill(1),
      headers: { 'content-type': 'image/png' },
    });
    expect(big.status).toBe(413);
    const loading = await fetch(`${pending.base}/classify`, {
      method: 'POST',
      body: new Uint8Array(png.subarray(0, 1000)),
      headers: { 'content-type': 'image/png' },
    });
    expect(loading.status).toBe(503);
    expect((await fetch(`${pending.base}/healthz`)).status).toBe(503);
    expect((await fetch(`${served.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${served.base}/predict`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${served.base}/classify`)).status).toBe(405);
  });
});

describe('edge-image over WebSocket', () => {
  it('answers binary and base64 images in order', async () => {
    const c = await openWs(`${served.ws}/?clientID=cam-1`);
    c.socket.send(png);
    c.socket.send(png.toString('base64'));
    expectTop5(JSON.parse(await c.next()) as Classification);
    expectTop5(JSON.parse(await c.next()) as Classification);
    c.socket.close(1000);
    await c.closed;
  });

  it.each([
    { name: 'non-image bytes', send: Buffer.from('GIF89a but not really') },
    { name: 'text that is not base64', send: 'look: a cat!' },
  ])('closes with 1007 and the reason on $name', async ({ send }) => {
    const c = await openWs(served.ws);
    c.socket.send(send);
    const closed = await c.closed;
    expect(closed.code).toBe(1007);
    expect(closed.reason).toMatch(/not a readable image|not base64/);
  });

  it('refuses the upgrade with 503 while the model loads', async () => {
    const error = await openWs(pending.ws).then(
      () => 'opened',
      (e: Error) => e.message,
    );
    expect(error).toMatch(/503/);
  });
});
