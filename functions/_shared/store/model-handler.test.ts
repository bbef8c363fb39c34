// Saving and loading TF.js layers models through the store's IOHandler, on the file store (real
// temp dirs) and on the GCS store (the real client against the wire-level fake).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGcsServer } from '../../../test/fakes/gcs-server.js';
import { initEngine } from '../engine/index.js';
import { BadInputError, NotFoundError } from '../errors.js';
import { FileStore } from './file-store.js';
import { GcsStore } from './gcs-store.js';
import { createModelHandler } from './model-handler.js';
import type { ReadOptions, Store, WriteOptions } from './types.js';

let tf: typeof tfType;
let dir: string;
let fake: FakeGcsServer;
let fileStore: FileStore;
let gcsStore: GcsStore;

beforeAll(async () => {
  ({ tf } = await initEngine());
  dir = await mkdtemp(join(tmpdir(), 'kaskade-model-handler-'));
  fake = await FakeGcsServer.start();
  fileStore = new FileStore([`file://${dir}`]);
  gcsStore = new GcsStore(['gs://kaskade-models/m'], {
    apiEndpoint: fake.endpoint,
    resumableThresholdBytes: 256 * 1024,
    chunkBytes: 256 * 1024,
  });
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function smallModel(): tfType.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [6], units: 16, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  return model;
}

/** Saves a model, loads it back through the same store, and compares predictions exactly. */
async function roundTrip(store: Store, folderUrl: string): Promise<void> {
  const before = tf.memory().numTensors;
  const model = smallModel();
  const input = tf.randomNormal([5, 6], 0, 1, 'float32', 42);
  const expected = model.predict(input) as tfType.Tensor;
  const result = await model.save(store.modelHandler(folderUrl));
  expect(result.modelArtifactsInfo.weightDataBytes).toBe((6 * 16 + 16 + 16 * 3 + 3) * 4);
  const loaded = await tf.loadLayersModel(store.modelHandler(folderUrl));
  const actual = loaded.predict(input) as tfType.Tensor;
  expect(Array.from(await actual.data())).toEqual(Array.from(await expected.data()));
  tf.dispose([input, expected, actual]);
  model.dispose();
  loaded.dispose();
  expect(tf.memory().numTensors).toBe(before);
}

describe('modelHandler', () => {
  it('file://: save then load gives equal predictions', async () => {
    await roundTrip(fileStore, `file://${dir}/mnist/round-1`);
    expect((await fileStore.list(`file://${dir}/mnist/round-1/`)).map((u) => u.split('/').pop())).toEqual([
      expect.stringMatching(/^model\.json$/),
      expect.stringMatching(/^weights-[0-9a-f]{16}-shard1of1\.bin$/),
    ]);
  });

  it('gs://: save then load gives equal predictions', async () => {
    await roundTrip(gcsStore, 'gs://kaskade-models/m/mnist/round-1/');
    expect(fake.getObject('kaskade-models', 'm/mnist/round-1/model.json')?.contentType).toBe('application/json');
  });

  it('splits weights into shards and reassembles them (a tensor may span two shards)', async () => {
    const url = `file://${dir}/sharded`;
    const model = smallModel();
    const handler = createModelHandler(fileStore, url, { shardBytes: 100 });
    await model.save(handler);
    const shards = (await fileStore.list(`${url}/`)).filter((u) => u.endsWith('.bin'));
    expect(shards).toHaveLength(Math.ceil(((6 * 16 + 16 + 16 * 3 + 3) * 4) / 100));
    const loaded = await tf.loadLayersModel(handler);
    const [a, b] = [model.getWeights(), loaded.getWeights()];
    for (let i = 0; i < a.length; i++) expect(Array.from(await b[i]!.data())).toEqual(Array.from(await a[i]!.data()));
    model.dispose();
    loaded.dispose();
  });

  it('writes every weight shard before model.json', async () => {
    const writes: string[] = [];
    const recording: Store = {
      read: (url: string, options?: ReadOptions) => fileStore.read(url, options),
      write: async (url: string, data: Uint8Array, options?: WriteOptions) => {
        await fileStore.write(url, data, options);
        writes.push(url.split('/').pop() ?? '');
      },
      exists: (url) => fileStore.exists(url),
      list: (url) => fileStore.list(url),
      delete: (url) => fileStore.delete(url),
      swapPointer: (url, expected, next) => fileStore.swapPointer(url, expected, next),
      modelHandler: (url) => createModelHandler(recording, url, { shardBytes: 128 }),
    };
    const model = smallModel();
    await model.save(recording.modelHandler(`file://${dir}/ordered`));
    model.dispose();
    expect(writes.length).toBeGreaterThan(2);
    expect(writes.at(-1)).toBe('model.json');
    expect(writes.slice(0, -1).every((name) => name.endsWith('.bin'))).toBe(true);
  });

  it("re-saving different weights never leaves model.json naming another save's shards", async () => {
    const url = `file://${dir}/resave`;
    const first = smallModel();
    await first.save(fileStore.modelHandler(url));
    const firstJson = new TextDecoder().decode(await fileStore.read(`${url}/model.json`));
    const second = smallModel();
    await second.save(fileStore.modelHandler(url));
    // A reader holding the first model.json still finds the shards it names.
    for (const path of (JSON.parse(firstJson) as { weightsManifest: { paths: string[] }[] }).weightsManifest[0]!
      .paths) {
      expect(await fileStore.exists(`${url}/${path}`)).toBe(true);
    }
    first.dispose();
    second.dispose();
  });

  const damaged: { name: string; edit: (json: { weightsManifest: { paths: string[] }[] }) => void; error: RegExp }[] = [
    {
      name: 'a shard path escaping the folder',
      edit: (j) => (j.weightsManifest[0]!.paths[0] = '../../etc/passwd'),
      error: /not a file name/,
    },
    {
      name: 'a shard path with a slash',
      edit: (j) => (j.weightsManifest[0]!.paths[0] = 'sub/x.bin'),
      error: /not a file name/,
    },
    { name: 'a missing shard', edit: (j) => (j.weightsManifest[0]!.paths[0] = 'gone.bin'), error: /does not exist/ },
    {
      name: 'no manifest',
      edit: (j) => delete (j as { weightsManifest?: unknown }).weightsManifest,
      error: /weightsManifest/,
    },
  ];
  it.each(damaged)('load refuses a model.json with $name', async ({ edit, error }) => {
    const url = `file://${dir}/damaged-${Math.random().toString(36).slice(2)}`;
    const model = smallModel();
    await model.save(fileStore.modelHandler(url));
    model.dispose();
    const json = JSON.parse(new TextDecoder().decode(await fileStore.read(`${url}/model.json`))) as {
      weightsManifest: { paths: string[] }[];
    };
    edit(json);
    await fileStore.write(`${url}/model.json`, new TextEncoder().encode(JSON.stringify(json)));
    await expect(tf.loadLayersModel(fileStore.modelHandler(url))).rejects.toThrow(error);
  });

  it('load refuses weights whose size does not match the manifest', async () => {
    const url = `file://${dir}/truncated`;
    const model = smallModel();
    await model.save(fileStore.modelHandler(url));
    model.dispose();
    const shard = (await fileStore.list(`${url}/`)).find((u) => u.endsWith('.bin'))!;
    await fileStore.write(shard, (await fileStore.read(shard)).subarray(0, 100));
    await expect(tf.loadLayersModel(fileStore.modelHandler(url))).rejects.toThrow(BadInputError);
  });

  it('load of a folder without a model is NotFoundError', async () => {
    await expect(tf.loadLayersModel(fileStore.modelHandler(`file://${dir}/empty`))).rejects.toThrow(NotFoundError);
  });
});
