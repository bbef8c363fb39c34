// The gs:// store with the real @google-cloud/storage client, against the wire-level fake of the
// GCS JSON API (test/fakes/gcs-server.ts). No real GCS is contacted.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeGcsServer, type LoggedRequest } from '../../../test/fakes/gcs-server.js';
import { ConflictError, ForbiddenPathError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../errors.js';
import { GcsStore } from './gcs-store.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251);
const root = 'gs://kaskade-test/runs';

let fake: FakeGcsServer;
let store: GcsStore;

beforeAll(async () => {
  fake = await FakeGcsServer.start();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  fake.setPageSize(1000);
  store = new GcsStore([root], {
    apiEndpoint: fake.endpoint,
    resumableThresholdBytes: 512 * 1024,
    chunkBytes: 256 * 1024,
    maxRetries: 3,
    maxRetryDelayMs: 1000,
    requestTimeoutMs: 5000,
    operationTimeoutMs: 30_000,
  });
});

/** Requests logged while `fn` ran. */
async function traffic(fn: () => Promise<unknown>): Promise<LoggedRequest[]> {
  const start = fake.requests.length;
  await fn();
  return fake.requests.slice(start);
}

describe('GcsStore against the fake GCS JSON API', () => {
  it('simple (multipart) upload and download of a small object', async () => {
    const log = await traffic(() =>
      store.write(`${root}/small/a.json`, bytes('{"a":1}'), { contentType: 'application/json' }),
    );
    expect(log.map((r) => [r.method, r.query.uploadType])).toEqual([['POST', 'multipart']]);
    const object = fake.getObject('kaskade-test', 'runs/small/a.json');
    expect(object?.contentType).toBe('application/json');
    expect(text(await store.read(`${root}/small/a.json`))).toBe('{"a":1}');
    expect(await store.exists(`${root}/small/a.json`)).toBe(true);
    expect(await store.exists(`${root}/small/b.json`)).toBe(false);
  });

  it('resumable upload in 256 KiB chunks for a large object, byte-exact on download', async () => {
    const data = pattern(700_001);
    const log = await traffic(() => store.write(`${root}/large/weights.bin`, data));
    const chunks = log.filter((r) => r.method === 'PUT');
    expect(log[0]).toMatchObject({ method: 'POST', query: { uploadType: 'resumable' }, status: 200 });
    expect(chunks.map((r) => r.status)).toEqual([308, 308, 200]);
    const back = await store.read(`${root}/large/weights.bin`, { maxBytes: 1 << 20 });
    expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
  });

  it('refuses an object over maxBytes from its metadata, before downloading', async () => {
    await store.write(`${root}/limit/x`, pattern(5000));
    const log = await traffic(() =>
      expect(store.read(`${root}/limit/x`, { maxBytes: 4999 })).rejects.toThrow(PayloadTooLargeError),
    );
    expect(log.every((r) => r.query.alt !== 'media')).toBe(true);
  });

  it('a bounded read of an object replaced between its metadata and its download reads the new one', async () => {
    const url = `${root}/limit/replaced`;
    await store.write(url, bytes('old'));
    fake.beforeNext(
      (r) => r.query.alt === 'media',
      () => fake.putObject('kaskade-test', 'runs/limit/replaced', bytes('new')),
    );
    expect(text(await store.read(url, { maxBytes: 100 }))).toBe('new');
  });

  it('lists a prefix across pages, sorted, and deletes', async () => {
    fake.setPageSize(2);
    const names = ['p/b', 'p/a/2', 'p/a/1', 'p/c', 'pz', 'q/x'];
    for (const name of names) await store.write(`${root}/list/${name}`, bytes(name));
    const log = await traffic(async () =>
      expect(await store.list(`${root}/list/p/`)).toEqual(['a/1', 'a/2', 'b', 'c'].map((n) => `${root}/list/p/${n}`)),
    );
    expect(log.filter((r) => r.method === 'GET').length).toBe(2);
    expect(await store.list(`${root}/list/p`)).toContain(`${root}/list/pz`);
    await store.delete(`${root}/list/p/b`);
    expect(await store.exists(`${root}/list/p/b`)).toBe(false);
    await expect(store.delete(`${root}/list/p/b`)).rejects.toThrow(NotFoundError);
    await expect(store.read(`${root}/list/p/b`)).rejects.toThrow(NotFoundError);
  });

  it('create-only writes send ifGenerationMatch=0 and turn the 412 into ConflictError', async () => {
    const url = `${root}/ckpt/step-1.safetensors`;
    const log = await traffic(() => store.write(url, bytes('first'), { ifAbsent: true }));
    expect(log[0]?.query.ifGenerationMatch).toBe('0');
    await expect(store.write(url, bytes('second'), { ifAbsent: true })).rejects.toThrow(ConflictError);
    expect(fake.requests.filter((r) => r.method === 'POST').at(-1)?.status).toBe(412);
    expect(text(await store.read(url))).toBe('first');
  });

  it('create-only resumable uploads are refused too', async () => {
    const url = `${root}/ckpt/big.safetensors`;
    await store.write(url, pattern(600_000), { ifAbsent: true });
    await expect(store.write(url, pattern(600_000), { ifAbsent: true })).rejects.toThrow(ConflictError);
  });

  it('swapPointer: compare-and-swap on the generation, 412 → ConflictError', async () => {
    const url = `${root}/model/LATEST`;
    await store.swapPointer(url, undefined, 'round-1');
    const generation = fake.getObject('kaskade-test', 'runs/model/LATEST')?.generation;
    const log = await traffic(() => store.swapPointer(url, 'round-1', 'round-2'));
    expect(log.find((r) => r.method === 'POST')?.query.ifGenerationMatch).toBe(String(generation));
    await expect(store.swapPointer(url, 'round-1', 'round-3')).rejects.toThrow(ConflictError);
    await expect(store.swapPointer(url, undefined, 'round-3')).rejects.toThrow(ConflictError);
    expect(text(await store.read(url))).toBe('round-2');
  });

  it('N concurrent swaps from the same expected value: exactly one wins', async () => {
    const url = `${root}/race/LATEST`;
    await store.swapPointer(url, undefined, 'v0');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => store.swapPointer(url, 'v0', `w${i}`)),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    expect(text(await store.read(url))).toBe(`w${winners[0]}`);
  });

  it('a swap that loses between its read and its write is a ConflictError, not an overwrite', async () => {
    const url = `${root}/interleave/LATEST`;
    await store.swapPointer(url, undefined, 'v0');
    // Another writer replaces the pointer after this swap compared it, just before it uploads.
    fake.beforeNext(
      (r) => r.method === 'POST',
      () => fake.putObject('kaskade-test', 'runs/interleave/LATEST', bytes('theirs')),
    );
    const log = await traffic(() => expect(store.swapPointer(url, 'v0', 'mine')).rejects.toThrow(ConflictError));
    expect(log.filter((r) => r.method === 'POST').at(-1)).toMatchObject({ method: 'POST', status: 412 });
    expect(text(await store.read(url))).toBe('theirs');

    // ...or deletes and recreates it between the metadata read and the content read.
    await store.write(url, bytes('v1'));
    fake.beforeNext(
      (r) => r.query.alt === 'media',
      () => fake.putObject('kaskade-test', 'runs/interleave/LATEST', bytes('v1')),
    );
    await expect(store.swapPointer(url, 'v1', 'mine')).rejects.toThrow(ConflictError);
  });

  it('retries transient 503s: conditional simple upload, download, metadata, list and a conditional resumable chunk', async () => {
    const url = `${root}/flaky/x`;
    let log = await traffic(async () => {
      fake.failNext(1, 503, (r) => r.method === 'POST');
      await store.write(url, bytes('survives'), { ifAbsent: true });
    });
    expect(log.map((r) => r.status)).toEqual([503, 200]);

    log = await traffic(async () => {
      fake.failNext(1, 503, (r) => r.query.alt === 'media');
      expect(text(await store.read(url))).toBe('survives');
    });
    expect(log.map((r) => r.status)).toEqual([503, 200]);

    fake.failNext(1, 503, (r) => r.method === 'GET');
    expect(await store.exists(url)).toBe(true);
    fake.failNext(1, 503, (r) => r.method === 'GET');
    expect(await store.list(`${root}/flaky/`)).toEqual([url]);

    const big = pattern(600_000);
    log = await traffic(async () => {
      fake.failNext(1, 503, (r) => r.method === 'PUT');
      await store.write(`${root}/flaky/big`, big, { ifAbsent: true });
    });
    expect(log.filter((r) => r.status === 503)).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(await store.read(`${root}/flaky/big`)), Buffer.from(big))).toBe(0);
  }, 60_000);

  it('tries a write without a precondition once: a 503 is an UnavailableError and nothing is written', async () => {
    const url = `${root}/flaky/blind`;
    const log = await traffic(async () => {
      fake.failNext(1, 503, (r) => r.method === 'POST');
      await expect(store.write(url, bytes('blind'))).rejects.toThrow(UnavailableError);
    });
    expect(log.map((r) => r.status)).toEqual([503]);
    expect(await store.exists(url)).toBe(false);
    // The client is not left without retries for the conditional writes that follow.
    fake.failNext(1, 503, (r) => r.method === 'POST');
    await store.write(url, bytes('second'), { ifAbsent: true });
    expect(text(await store.read(url))).toBe('second');
  });

  it.each([
    { name: 'a 503', answer: 503 as const },
    { name: 'a reset connection', answer: 'reset' as const },
  ])('recognises a create whose answer was lost ($name) as its own write, not a conflict', async ({ answer }) => {
    const url = `${root}/lost/${String(answer)}`;
    const log = await traffic(async () => {
      fake.loseAnswerNext(1, (r) => r.method === 'POST', answer);
      await store.write(url, bytes('mine'), { ifAbsent: true });
    });
    // The retry met the first attempt's object as a precondition failure.
    expect(log.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([answer === 'reset' ? 0 : 503, 412]);
    expect(text(await store.read(url))).toBe('mine');
    await expect(store.write(url, bytes('again'), { ifAbsent: true })).rejects.toThrow(ConflictError);
  });

  it('gives up with UnavailableError when the outage outlasts the retries', async () => {
    fake.failNext(10, 503, (r) => r.method === 'GET');
    const log = await traffic(() => expect(store.read(`${root}/flaky/x`)).rejects.toThrow(UnavailableError));
    expect(log.map((r) => r.status)).toEqual([503, 503, 503, 503]);
  }, 60_000);

  it('confines URLs to its roots', async () => {
    await expect(store.read('gs://other-bucket/runs/x')).rejects.toThrow(ForbiddenPathError);
    await expect(store.write(`${root}/../secrets/x`, bytes('x'))).rejects.toThrow(ForbiddenPathError);
    await expect(store.list('gs://kaskade-test/')).rejects.toThrow(ForbiddenPathError);
    await expect(store.read('file:///etc/passwd')).rejects.toThrow(ForbiddenPathError);
  });
});
