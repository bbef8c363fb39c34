// `kaskade collect` end to end in this process: split-half A → split-proxy → split-half B on the
// small ResNet, behind the Functions Framework's HTTP stack on ephemeral ports. The CSV it
// writes parses back with the lab's reader, and its batch times fit the lab's latency model per
// bandwidth level.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchTimes, formatCollectCsv, parseCollectCsv } from '../../knative/lab/csv.js';
import { fitByBandwidth } from '../../knative/lab/fit.js';
import { useWasm } from '../../test/support/kernels.js';
import { quietLogger } from '../../test/support/layer-servers.js';
import { createProxyHandler } from '../../functions/split-proxy/proxy.js';
import { loadHalf } from '../../functions/split-half/halves.js';
import { createHalfHandler } from '../../functions/split-half/service.js';
import { collect, type CollectOptions } from './collect.js';

const servers: Server[] = [];

async function listen(name: string): Promise<string> {
  const server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let aUrl: string;
let proxyUrl: string;
let png: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  await useWasm();
  const config = { model: 'resnet-small', seed: 3, cut: 'v2' };
  const a = await loadHalf(tf, config, 'A');
  const b = await loadHalf(tf, config, 'B');
  const limits = { timeoutMs: 10_000, maxBodyBytes: 1 << 20, topK: 3 };
  http(
    'collect-test-b',
    createHalfHandler({
      config: { half: 'B', nextUrl: undefined, ...limits },
      half: () => b,
      logger: quietLogger('split-half'),
    }),
  );
  const bUrl = await listen('collect-test-b');
  http(
    'collect-test-proxy',
    createProxyHandler({
      config: { targetUrl: bUrl, bandwidth: 0, threads: 2, timeoutMs: 10_000, maxBodyBytes: 1 << 20 },
      logger: quietLogger('split-proxy'),
    }),
  );
  proxyUrl = await listen('collect-test-proxy');
  http(
    'collect-test-a',
    createHalfHandler({
      config: { half: 'A', nextUrl: proxyUrl, ...limits },
      half: () => a,
      logger: quietLogger('split-half'),
    }),
  );
  aUrl = await listen('collect-test-a');
  png = new Uint8Array(
    await sharp({ create: { width: 40, height: 32, channels: 3, background: { r: 20, g: 90, b: 200 } } })
      .png()
      .toBuffer(),
  );
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  tf.disposeVariables();
});

describe('kaskade collect', () => {
  it('writes the seed CSV through A → proxy → B, one batch per setting and iteration, and the lab fits it', async () => {
    const base: Omit<CollectOptions, 'podsA' | 'podsB'> = {
      url: `${aUrl}/predict`,
      image: png,
      contentType: 'image/png',
      concurrency: 3,
      iterations: 2,
      proxy: proxyUrl,
      bandwidths: [4, 8],
      unit: 25_000_000,
      timeoutMs: 10_000,
    };
    // One run per pod setting (the operator scales between runs), appended like `--append`.
    const rows = [];
    for (const [podsA, podsB] of [
      [1, 1],
      [1, 2],
      [2, 2],
    ] as const) {
      const result = await collect({ ...base, podsA, podsB });
      expect(result.failures).toEqual([]);
      expect(result.rows).toHaveLength(2 * 2 * 3);
      rows.push(...result.rows);
    }
    const settings = (await (await fetch(`${proxyUrl}/settings`)).json()) as { bandwidth: number };
    expect(settings.bandwidth).toBe(8 * 25_000_000);

    const parsed = parseCollectCsv(formatCollectCsv(rows));
    expect(parsed).toHaveLength(36);
    for (const r of parsed) {
      expect(r.totalTime).toBeGreaterThan(0);
      expect(r.inferenceTimeA).toBeGreaterThan(0);
      expect(r.inferenceTimeB).toBeGreaterThan(0);
      expect(r.endTime).toBeGreaterThanOrEqual(r.totalTime);
      expect([4, 8]).toContain(r.bandwidth);
    }
    // Answers of one batch can all arrive close together, so the batch size groups them.
    const batches = batchTimes(parsed, 3);
    expect(batches).toHaveLength(3 * 2 * 2);
    expect(batches.map((b) => b.pods)).toEqual([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
    const fits = fitByBandwidth(batches);
    expect([...fits.keys()]).toEqual([4, 8]);
    for (const fit of fits.values()) {
      expect(fit.points).toBe(6);
      expect(Number.isFinite(fit.a + fit.k + fit.c + fit.rmse)).toBe(true);
    }
  });

  it('refuses several bandwidth levels without a proxy to set them', async () => {
    await expect(
      collect({
        url: `${aUrl}/predict`,
        image: png,
        contentType: 'image/png',
        concurrency: 1,
        iterations: 1,
        bandwidths: [1, 2],
        unit: 1,
        podsA: 1,
        podsB: 1,
        timeoutMs: 1000,
      }),
    ).rejects.toThrow(/needs --proxy/);
  });
});
