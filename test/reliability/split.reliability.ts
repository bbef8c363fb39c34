// Fault and bad-input cases of split inference, through the local runtime (A → proxy → B, the
// small ResNet): four requests held by a frozen B when it is killed are each a 503 from A,
// never a hang or a 500, and four at once succeed once B is back; a B that stops answering is
// a 504 at A's timeout and the service recovers when it resumes; a wrong activation shape at
// B, a non-image upload, an oversized body and a decompression bomb are 4xx with a message,
// and a good request right after each is answered.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../functions/_shared/wire/index.js';
import { ACTIVATION_EVENT } from '../../functions/split-half/service.js';
import { SPLIT_NS as NS, startSplitRuntime, type SplitRuntime } from '../support/split-runtime.js';

/** A's wait for B: far above a request of the small ResNet (milliseconds), short enough to wait out. */
const A_TIMEOUT_MS = 5_000;
const MAX_BODY = 1 << 20;

let split: SplitRuntime;
let png: Uint8Array<ArrayBuffer>;

const a = (path: string): string => `${split.runtime.url('split-half-a', NS)}${path}`;

function post(url: string, body: BodyInit, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10 * A_TIMEOUT_MS) });
}

const predict = (): Promise<Response> => post(a('/predict'), png, { 'content-type': 'image/png' });

async function errorOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: string }).error;
}

function readyB(): number {
  const pid = split.pods('split-half-b').find((p) => p.phase === 'ready')?.pid;
  if (pid === undefined) throw new Error('no ready pod of split-half-b');
  return pid;
}

beforeAll(async () => {
  png = new Uint8Array(
    await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 90, g: 10, b: 160 } } })
      .png()
      .toBuffer(),
  );
  split = await startSplitRuntime({
    SPLIT_TIMEOUT_MS: String(A_TIMEOUT_MS),
    SPLIT_MAX_BODY_BYTES: String(MAX_BODY),
  });
  // Every service has its pod up before the timed cases start.
  await split.until(
    'A, the proxy and B ready',
    () => ['split-half-a', 'split-proxy', 'split-half-b'].every((s) => split.pods(s).some((p) => p.phase === 'ready')),
    240_000,
  );
  expect((await predict()).status).toBe(200);
}, 300_000);

afterAll(() => split?.close());

describe('split inference under faults', () => {
  it('B killed holding four requests: each is a 503 from A; four at once succeed once B is back', async () => {
    const pid = readyB();
    process.kill(pid, 'SIGSTOP');
    const pending = Array.from({ length: 4 }, predict);
    await split.until(
      'four requests on B',
      () => split.pods('split-half-b').some((p) => p.pid === pid && p.inFlight >= 4),
      60_000,
    );
    process.kill(pid, 'SIGKILL');
    const answers = await Promise.all(pending);
    expect(answers.map((r) => r.status)).toEqual([503, 503, 503, 503]);
    for (const r of answers) expect(await errorOf(r)).toMatch(/half B/);
    await split.until(
      'a new B pod',
      () => split.pods('split-half-b').some((p) => p.pid !== pid && p.phase === 'ready'),
      240_000,
    );
    const again = await Promise.all(Array.from({ length: 4 }, predict));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it('B that stops answering is a 504 at A once its timeout passes; when B resumes, requests succeed', async () => {
    const pid = readyB();
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const res = await predict();
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expect(await errorOf(res)).toMatch(/ms/);
      expect(elapsed).toBeGreaterThanOrEqual(A_TIMEOUT_MS - 50);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await predict()).status).toBe(200);
  });

  it('a wrong activation shape at B is a 400 naming both shapes, through the proxy and at B itself', async () => {
    const wrong = encodeTensors({ activation: { dtype: 'F32', shape: [1, 3, 2, 2], data: new Float32Array(12) } });
    const headers = {
      'content-type': 'application/octet-stream',
      'ce-specversion': '1.0',
      'ce-type': ACTIVATION_EVENT,
      'ce-id': 'reliability-1',
      'ce-source': 'test',
    };
    for (const service of ['split-proxy', 'split-half-b']) {
      const res = await post(split.runtime.url(service, NS), wrong, headers);
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatch(/activation shape \[1,3,2,2\] does not fit .*expected \[1,64,4,4\]/);
    }
    expect((await predict()).status).toBe(200);
  });

  it('a non-image upload, an oversized body and a decompression bomb are 4xx with a message', async () => {
    const text = await post(a('/predict'), 'GIF89a, but not really', { 'content-type': 'image/gif' });
    expect(text.status).toBe(400);
    expect(await errorOf(text)).toMatch(/not a readable image/);
    const big = await post(a('/predict'), new Uint8Array(MAX_BODY + 1), { 'content-type': 'image/png' });
    expect(big.status).toBe(413);
    expect(await errorOf(big)).toMatch(/at most 1048576 bytes/);
    // 8000 × 8000 pixels of one colour: a small PNG that would decode to 192 MB.
    const bomb = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(MAX_BODY);
    const refused = await post(a('/predict'), new Uint8Array(bomb), { 'content-type': 'image/png' });
    expect(refused.status).toBe(400);
    expect(await errorOf(refused)).toMatch(/pixel limit/i);
    expect((await predict()).status).toBe(200);
  });
});
