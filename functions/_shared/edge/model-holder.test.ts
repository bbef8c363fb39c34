// The model holder's states, and the built-in model cache: trained once, loaded after.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, type Engine } from '../engine/index.js';
import { UnavailableError } from '../errors.js';
import { openStore } from '../store/index.js';
import { ModelHolder, cachedBuiltin } from './model-holder.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'kaskade-builtin-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ModelHolder', () => {
  it('is 503 while loading, then serves; a failed load stays a 503 that says why', async () => {
    let finish: (v: string) => void = () => undefined;
    const holder = new ModelHolder('m', () => new Promise<string>((r) => (finish = r)));
    expect(holder.ready).toBe(false);
    expect(() => holder.get()).toThrow(UnavailableError);
    finish('model');
    expect(await holder.loaded).toBe('model');
    expect(holder.get()).toBe('model');
    const failed = new ModelHolder('m', () => Promise.reject(new Error('disk on fire')));
    await expect(failed.loaded).rejects.toThrow('disk on fire');
    expect(() => failed.get()).toThrow(/failed to load: disk on fire/);
  });
});

describe('cachedBuiltin', () => {
  it('trains once, then loads the saved model', async () => {
    const { tf } = engine;
    const root = pathToFileURL(dir).href;
    const store = openStore({ roots: [root] });
    let trainings = 0;
    const train = (): Promise<ReturnType<typeof tf.sequential>> => {
      trainings += 1;
      const m = tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        ],
      });
      m.setUserDefinedMetadata({ kind: 'test' });
      return Promise.resolve(m);
    };
    const first = await cachedBuiltin(tf, store, `${root}/edge/builtin/t`, train);
    const second = await cachedBuiltin(tf, store, `${root}/edge/builtin/t`, train);
    expect(trainings).toBe(1);
    expect(second.getUserDefinedMetadata()).toEqual({ kind: 'test' });
    expect(Array.from(second.getWeights()[0]!.dataSync())).toEqual(Array.from(first.getWeights()[0]!.dataSync()));
    await cachedBuiltin(tf, store, undefined, train);
    expect(trainings).toBe(2);
    first.dispose();
    second.dispose();
  });
});
