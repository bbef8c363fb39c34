import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGcsServer } from '../../../test/fakes/gcs-server.js';
import { initEngine } from '../engine/index.js';
import { ConfigError, ConflictError, ForbiddenPathError, PayloadTooLargeError } from '../errors.js';
import {
  loadStoreConfig,
  loadTensors,
  openStore,
  publishLatest,
  readLatest,
  saveTensors,
  type Store,
} from './index.js';

let tf: typeof tfType;
let dir: string;
let fake: FakeGcsServer;
let store: Store;

beforeAll(async () => {
  ({ tf } = await initEngine());
  dir = await mkdtemp(join(tmpdir(), 'kaskade-store-'));
  fake = await FakeGcsServer.start();
  store = openStore(
    loadStoreConfig({
      KASKADE_STORAGE_ROOTS: `file://${dir}, gs://kaskade-bucket/jobs`,
      KASKADE_GCS_ENDPOINT: fake.endpoint,
    }),
  );
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('loadStoreConfig', () => {
  const cases: { name: string; env: Record<string, string>; roots?: string[]; apiEndpoint?: string; error?: RegExp }[] =
    [
      { name: 'default root under the working folder', env: {}, roots: ['file:///srv/app/.kaskade/store'] },
      {
        name: 'a list of roots, spaces trimmed',
        env: { KASKADE_STORAGE_ROOTS: 'file:///data , gs://b-1/p' },
        roots: ['file:///data', 'gs://b-1/p'],
      },
      {
        name: 'an absolute path means file://',
        env: { KASKADE_STORAGE_ROOTS: '/mnt/nfs' },
        roots: ['file:///mnt/nfs'],
      },
      {
        name: 'the GCS endpoint of a fake',
        env: { KASKADE_GCS_ENDPOINT: 'http://127.0.0.1:9023' },
        roots: ['file:///srv/app/.kaskade/store'],
        apiEndpoint: 'http://127.0.0.1:9023',
      },
      {
        name: 'a relative path is refused',
        env: { KASKADE_STORAGE_ROOTS: 'data/store' },
        error: /KASKADE_STORAGE_ROOTS/,
      },
      {
        name: 'a root with .. is refused',
        env: { KASKADE_STORAGE_ROOTS: 'file:///data/../etc' },
        error: /KASKADE_STORAGE_ROOTS/,
      },
      {
        name: 'another scheme is refused',
        env: { KASKADE_STORAGE_ROOTS: 's3://bucket/x' },
        error: /KASKADE_STORAGE_ROOTS/,
      },
      {
        name: 'an endpoint that is not a URL is refused',
        env: { KASKADE_GCS_ENDPOINT: 'localhost:9023' },
        error: /KASKADE_GCS_ENDPOINT/,
      },
    ];
  it.each(cases)('$name', ({ env, roots, apiEndpoint, error }) => {
    if (error) {
      expect(() => loadStoreConfig(env, '/srv/app')).toThrow(ConfigError);
      expect(() => loadStoreConfig(env, '/srv/app')).toThrow(error);
      return;
    }
    const config = loadStoreConfig(env, '/srv/app');
    expect(config.roots).toEqual(roots);
    expect(config.gcs?.apiEndpoint).toBe(apiEndpoint);
  });
});

describe('openStore routes by scheme', () => {
  it('file:// and gs:// objects through one store', async () => {
    await store.write(`file://${dir}/a/x`, new Uint8Array([1]));
    await store.write('gs://kaskade-bucket/jobs/a/x', new Uint8Array([2]));
    expect(Array.from(await store.read(`file://${dir}/a/x`))).toEqual([1]);
    expect(Array.from(await store.read('gs://kaskade-bucket/jobs/a/x'))).toEqual([2]);
    expect(fake.getObject('kaskade-bucket', 'jobs/a/x')?.data).toEqual(Buffer.from([2]));
    expect(await store.list('gs://kaskade-bucket/jobs/a/')).toEqual(['gs://kaskade-bucket/jobs/a/x']);
  });

  it('refuses schemes without a root, and URLs outside the roots, as rejected promises', async () => {
    const fileOnly = openStore({ roots: [`file://${dir}`] });
    await expect(fileOnly.read('gs://kaskade-bucket/jobs/a/x')).rejects.toThrow(/no gs:\/\/ storage root/);
    await expect(store.read('gs://kaskade-bucket/other/x')).rejects.toThrow(ForbiddenPathError);
    await expect(store.write('https://example.com/x', new Uint8Array())).rejects.toThrow(ForbiddenPathError);
    expect(() => store.modelHandler('gs://elsewhere/x/')).toThrow(ForbiddenPathError);
  });
});

describe('LATEST pointer', () => {
  const cases = [
    { name: 'file://', prefix: () => `file://${dir}/models/mnist` },
    { name: 'gs://', prefix: () => 'gs://kaskade-bucket/jobs/models/mnist/' },
  ];
  it.each(cases)('$name: publish, read, compare-and-swap', async ({ prefix: at }) => {
    const prefix = at();
    expect(await readLatest(store, prefix)).toBeUndefined();
    await publishLatest(store, prefix, 'round-0001');
    expect(await readLatest(store, prefix)).toBe('round-0001');
    await publishLatest(store, prefix, 'round-0002');
    expect(await readLatest(store, prefix)).toBe('round-0002');
    await expect(publishLatest(store, prefix, 'round-0003', { expected: 'round-0001' })).rejects.toThrow(ConflictError);
    await publishLatest(store, prefix, 'round-0003', { expected: 'round-0002' });
    expect(await readLatest(store, prefix)).toBe('round-0003');
    await expect(publishLatest(store, prefix, 'x', { expected: undefined })).rejects.toThrow(ConflictError);
  });

  it('concurrent publishers without an expectation all land, one after another', async () => {
    const prefix = `file://${dir}/models/busy`;
    await Promise.all(Array.from({ length: 5 }, (_, i) => publishLatest(store, prefix, `r${i}`, { attempts: 10 })));
    expect(await readLatest(store, prefix)).toMatch(/^r[0-4]$/);
  });
});

describe('safetensors blobs in the store', () => {
  const cases = [
    { name: 'file://', url: () => `file://${dir}/ckpt/adam.safetensors` },
    { name: 'gs://', url: () => 'gs://kaskade-bucket/jobs/ckpt/adam.safetensors' },
  ];
  it.each(cases)('$name: saveTensors / loadTensors round trip', async ({ url: at }) => {
    const url = at();
    const before = tf.memory().numTensors;
    const saved = {
      m: tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      step: tf.scalar(7, 'int32'),
    };
    await saveTensors(store, url, saved, { metadata: { optimizer: 'adam' }, ifAbsent: true });
    await expect(saveTensors(store, url, saved, { ifAbsent: true })).rejects.toThrow(ConflictError);
    const { tensors, metadata } = await loadTensors(store, url, { maxBytes: 1 << 20 });
    expect(metadata?.optimizer).toBe('adam');
    expect(Array.from(await tensors.m!.data())).toEqual([1, 2, 3, 4]);
    expect(tensors.step?.dtype).toBe('int32');
    await expect(loadTensors(store, url, { maxBytes: 16 })).rejects.toThrow(PayloadTooLargeError);
    tf.dispose([...Object.values(saved), ...Object.values(tensors)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
