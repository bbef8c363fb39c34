// The split-half service, both halves in this process behind the Functions Framework's HTTP
// stack on ephemeral ports, on the small ResNet: an image goes in at A and a class comes out
// of B; bad input is a 4xx with a message; B going away mid-request is a 503 from A, and the
// next request succeeds once B is back.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../test/support/kernels.js';
import { quietLogger } from '../../test/support/layer-servers.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/support/temp-dir.js';
import { exportOnnx } from '../_shared/serving/export-onnx.js';
import { openStore } from '../_shared/store/index.js';
import { bearerHeaders } from '../_shared/auth.js';
import { encodeTensors } from '../_shared/wire/index.js';
import type { Half } from './config.js';
import { loadHalf, loadWholeModel, type LoadedHalf } from './halves.js';
import { ACTIVATION_EVENT, createHalfHandler } from './service.js';

let registered = 0;
const servers: Server[] = [];

async function serve(
  half: Half,
  loaded: LoadedHalf,
  nextUrl?: string,
  port = 0,
  callHeaders?: Record<string, string>,
): Promise<{ url: string; server: Server }> {
  const name = `split-half-test-${++registered}`;
  http(
    name,
    createHalfHandler({
      config: { half, nextUrl, timeoutMs: 5_000, maxBodyBytes: 1 << 20, topK: 3 },
      half: () => loaded,
      logger: quietLogger('split-half'),
      ...(callHeaders ? { callHeaders } : {}),
    }),
  );
  const server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

let a: LoadedHalf;
let b: LoadedHalf;
let aUrl: string;
let bUrl: string;
let bServer: Server;
let png: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  await useWasm();
  const config = { model: 'resnet-small', seed: 3, cut: 'v2' };
  a = await loadHalf(tf, config, 'A');
  b = await loadHalf(tf, config, 'B');
  ({ url: bUrl, server: bServer } = await serve('B', b));
  ({ url: aUrl } = await serve('A', a, bUrl));
  png = new Uint8Array(
    await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 200, g: 30, b: 10 } } })
      .png()
      .toBuffer(),
  );
});

afterAll(async () => {
  for (const s of servers) if (s.listening) await stop(s);
  tf.disposeVariables();
});

describe('split-half', () => {
  it('an image goes in at A and a class comes out of B, with timings and the raw activation on the wire', async () => {
    const res = await fetch(`${aUrl}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      top: { class_id: number; class_name: string }[];
      cut: string;
      activationBytes: number;
      frontMs: number;
      backMs: number;
      totalMs: number;
    };
    expect(answer.top).toHaveLength(3);
    expect(answer.top[0]!.class_name).toBe(`class ${answer.top[0]!.class_id}`);
    expect(answer.cut).toBe('conv3_block1_out');
    const raw = 4 * a.runner.outputShape.reduce((x, y) => x * y, 1);
    expect(answer.activationBytes).toBeGreaterThan(raw);
    expect(answer.activationBytes).toBeLessThan(raw + 1024);
    expect(answer.totalMs).toBeGreaterThanOrEqual(answer.backMs);
  });

  it('feeds a channels-first ONNX model (as PyTorch exports them) the image as CHW: same answer as channels-last', async () => {
    const dir = await makeTempDir('kaskade-split-nchw-');
    try {
      const whole = await loadWholeModel(tf, { model: 'resnet-small', seed: 3 });
      await writeFile(join(dir.path, 'nchw.onnx'), exportOnnx(whole, { channelsFirstInputs: true }));
      whole.dispose();
      const source = { model: `${dir.url}/nchw.onnx`, seed: 0, cut: 'v2' };
      const store = openStore({ roots: [dir.url] });
      const nchwA = await loadHalf(tf, source, 'A', { store });
      expect(nchwA.runner.inputShape).toEqual([3, 32, 32]);
      const { url: nchwB } = await serve('B', await loadHalf(tf, source, 'B', { store }));
      const { url: nchwUrl } = await serve('A', nchwA, nchwB);
      const classify = async (url: string): Promise<{ class_id: number; score: number }[]> => {
        const res = await fetch(`${url}/classify`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: png,
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { top: { class_id: number; score: number }[] }).top;
      };
      const [channelsFirst, channelsLast] = [await classify(nchwUrl), await classify(aUrl)];
      expect(channelsFirst.map((t) => t.class_id)).toEqual(channelsLast.map((t) => t.class_id));
      channelsFirst.forEach((t, i) => expect(Math.abs(t.score - channelsLast[i]!.score)).toBeLessThan(1e-4));
    } finally {
      await dir.remove();
    }
  });

  it('/predict answers like the seed, and takes a multipart upload', async () => {
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'cat.png');
    const res = await fetch(`${aUrl}/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(answer).sort()).toEqual([
      'class_id',
      'class_name',
      'inference_time_a',
      'inference_time_b',
      'total_time',
    ]);
    expect(typeof answer.class_id).toBe('number');
  });

  it('takes a v2 tensor at A', async () => {
    const shape = [1, ...a.runner.inputShape];
    const data = new Array<number>(shape.reduce((x, y) => x * y, 1)).fill(0.1);
    const res = await fetch(`${aUrl}/v2/models/split/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', data }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { top: unknown[] }).top).toHaveLength(3);
  });

  it('answers a non-image upload, an oversized image and a wrong activation shape with a 4xx and a message', async () => {
    const text = await fetch(`${aUrl}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'hello, not an image',
    });
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: string }).error).toMatch(/not a readable image/);
    const big = await fetch(`${aUrl}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array((1 << 20) + 1),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/at most/);
    const wrong = encodeTensors({ activation: { dtype: 'F32', shape: [1, 2, 2, 3], data: new Float32Array(12) } });
    const shaped = await fetch(bUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'ce-specversion': '1.0',
        'ce-type': ACTIVATION_EVENT,
        'ce-id': '1',
        'ce-source': 'test',
      },
      body: wrong,
    });
    expect(shaped.status).toBe(400);
    expect(((await shaped.json()) as { error: string }).error).toMatch(/activation shape \[1,2,2,3\] does not fit/);
    const garbage = await fetch(bUrl, {
      method: 'POST',
      headers: { 'ce-specversion': '1.0', 'ce-type': ACTIVATION_EVENT, 'ce-id': '2', 'ce-source': 'test' },
      body: 'not safetensors',
    });
    expect(garbage.status).toBe(400);
  });

  it('A calls B with its bearer token when auth is on', async () => {
    const seen: Array<string | undefined> = [];
    const fakeB = createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      req.on('end', () =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ top: [{ class_id: 1, class_name: 'class 1', score: 1 }], cut: 'v2', backMs: 1 })),
      );
    });
    await new Promise<void>((resolve) => fakeB.listen(0, '127.0.0.1', resolve));
    servers.push(fakeB);
    const bAt = `http://127.0.0.1:${(fakeB.address() as AddressInfo).port}`;
    const { url } = await serve('A', a, bAt, 0, bearerHeaders({ token: 's3cret' }));
    const res = await fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
    expect(res.status).toBe(200);
    expect(seen).toEqual(['Bearer s3cret']);
  });

  it('retries once when B closed the kept-alive connection A reuses ("other side closed")', async () => {
    // A B at the wire that closes a kept-alive connection as the next request arrives on it,
    // before answering: what a pod of B does when its idle keep-alive timer fires just as A
    // reuses the connection.
    const uses = new Map<Socket, number>();
    let dropped = 0;
    let answered = 0;
    const fakeB = createServer((req, res) => {
      const n = (uses.get(req.socket) ?? 0) + 1;
      uses.set(req.socket, n);
      if (n === 2) {
        dropped++;
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => {
        answered++;
        res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' }).end(
          JSON.stringify({
            top: [{ class_id: 1, class_name: 'class 1', score: 1 }],
            cut: 'conv3_block1_out',
            backMs: 1,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => fakeB.listen(0, '127.0.0.1', resolve));
    servers.push(fakeB);
    const { url } = await serve('A', a, `http://127.0.0.1:${(fakeB.address() as AddressInfo).port}`);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${url}/classify`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      expect(res.status).toBe(200);
    }
    expect(dropped).toBe(1);
    expect(answered).toBe(2);
  });

  it('B going away mid-request makes A answer 503 within its timeout; the next request succeeds once B is back', async () => {
    const port = (bServer.address() as AddressInfo).port;
    const killed = new Promise<void>((resolve) => {
      bServer.prependOnceListener('request', () => void stop(bServer).then(resolve));
    });
    const started = performance.now();
    const res = await fetch(`${aUrl}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/127\.0\.0\.1/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await killed;
    ({ server: bServer } = await serve('B', b, undefined, port));
    const again = await fetch(`${aUrl}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    expect(again.status).toBe(200);
  });
});
