// The repository on its own, with real tiny models in a temp store and a fake clock: idle
// unloading, least-recently-used order under the memory budget, and models never loaded twice
// at once.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, type Engine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { openStore, type Store } from '../_shared/store/index.js';
import { mnistMetadata, publishNamed, tinyMnistModel } from '../../test/support/models.js';
import { makeTempDir } from '../../test/support/temp-dir.js';
import { loadServedModel } from './model-loader.js';
import { ModelRepository } from './model-repository.js';
import { publishedModels } from './published-models.js';

const quiet = createLogger('predictor', new Writable({ write: (_c, _e, done) => done() }));

describe('ModelRepository', () => {
  let engine: Engine;
  let store: Store;
  let modelsUrl: string;
  let cleanup: () => Promise<void>;
  let clock = 0;

  beforeAll(async () => {
    engine = await initEngine();
    const temp = await makeTempDir('repository-');
    store = openStore({ roots: [temp.url] });
    modelsUrl = `${temp.url}/models/`;
    cleanup = () => temp.remove();
    for (const [name, seed] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const) {
      const model = tinyMnistModel(engine.tf, seed);
      await publishNamed(store, modelsUrl, name, model, mnistMetadata({ jobId: `job-${name}` }));
      model.dispose();
    }
  });

  afterAll(async () => {
    await cleanup();
  });

  const repository = (budgetBytes: number, idleUnloadMs: number): ModelRepository =>
    new ModelRepository({
      published: publishedModels(
        store,
        { kind: 'many', modelsUrl },
        (folder) => loadServedModel(engine.tf, store, folder),
        10_000,
      ),
      memoryBudgetBytes: budgetBytes,
      idleUnloadMs,
      logger: quiet,
      now: () => clock,
    });

  it('unloads a model unused for the idle time, and only that one', async () => {
    const repo = repository(1 << 30, 60_000);
    clock = 0;
    await repo.load('a');
    clock = 30_000;
    (await repo.acquire('b')).release();
    clock = 60_000;
    expect(repo.unloadIdle()).toEqual(['a']);
    expect(repo.loaded()).toEqual(['b']);
    clock = 90_001;
    expect(repo.unloadIdle()).toEqual(['b']);
    repo.close();
  });

  it('keeps the budget by unloading the least recently used first', async () => {
    const probe = repository(1 << 30, 0);
    await probe.load('a');
    const oneModel = probe.loadedBytes();
    probe.close();

    const repo = repository(2 * oneModel, 0);
    clock = 1;
    await repo.load('a');
    clock = 2;
    await repo.load('b');
    clock = 3;
    (await repo.acquire('a')).release(); // a is now more recent than b
    clock = 4;
    await repo.load('c');
    expect(repo.loaded().sort()).toEqual(['a', 'c']);
    expect(repo.loadedBytes()).toBeLessThanOrEqual(2 * oneModel);
    repo.close();
  });

  it('loads a model once for many concurrent first requests, and frees its tensors on unload', async () => {
    const repo = repository(1 << 30, 0);
    const before = engine.tf.memory().numTensors;
    const leases = await Promise.all(Array.from({ length: 8 }, () => repo.acquire('c')));
    expect(new Set(leases.map((l) => l.model)).size).toBe(1);
    const weights = leases[0]?.model.model?.weights.length ?? 0;
    expect(engine.tf.memory().numTensors).toBe(before + weights);
    expect(repo.unload('c')).toBe(true);
    // Still held by the leases: freed when the last one is released.
    expect(engine.tf.memory().numTensors).toBe(before + weights);
    for (const lease of leases) lease.release();
    expect(engine.tf.memory().numTensors).toBe(before);
    repo.close();
  });
});
