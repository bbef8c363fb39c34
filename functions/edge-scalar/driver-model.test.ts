// The driver LSTM: it learns the generated drivers apart, and a saved model carries its
// standardisation and driver names through the store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLayersModelFrom } from '../_shared/edge/model-holder.js';
import { initEngine, type Engine } from '../_shared/engine/index.js';
import { BadInputError } from '../_shared/errors.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { openStore } from '../_shared/store/index.js';
import { DRIVERS, FEATURE_COUNT, WINDOW_ROWS, generateDrivingWindows } from './driving-data.js';
import { DriverClassifier, trainDriverModel } from './driver-model.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'kaskade-driver-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('driver model', () => {
  it('tells the generated drivers apart far above chance, and survives a save and load', async () => {
    const { tf } = engine;
    const { model } = await trainDriverModel(tf, generateDrivingWindows(20, 1), { epochs: 5, units: 16 });
    const test = generateDrivingWindows(10, 77);
    const size = WINDOW_ROWS * FEATURE_COUNT;
    const accuracy = async (c: DriverClassifier): Promise<number> => {
      let right = 0;
      for (let i = 0; i < test.n; i += 1)
        if ((await c.classify(test.x.subarray(i * size, (i + 1) * size))).driver === DRIVERS[test.y[i]!]) right += 1;
      return right / test.n;
    };
    const trained = new DriverClassifier(tf, model);
    const acc = await accuracy(trained);
    expect(acc).toBeGreaterThan(0.5);

    const root = pathToFileURL(dir).href;
    const store = openStore({ roots: [root] });
    await model.save(store.modelHandler(`${root}/driver/`));
    const loaded = new DriverClassifier(tf, await loadLayersModelFrom(tf, store, `${root}/driver`));
    expect(loaded.metadata).toEqual(trained.metadata);
    expect(await accuracy(loaded)).toBe(acc);
    // The same model on ONNX Runtime (LSTM exported) answers the same drivers.
    const onnx = await DriverClassifier.onOnnx(
      await loadLayersModelFrom(tf, store, `${root}/driver`),
      loadServingConfig({}).onnx,
    );
    expect(onnx.engineName).toBe('onnx');
    expect(await accuracy(onnx)).toBe(acc);
    const w = test.x.subarray(0, size);
    expect((await onnx.classify(w)).confidence).toBeCloseTo((await trained.classify(w)).confidence, 1);
    onnx.dispose();
    trained.dispose();
    loaded.dispose();
  }, 120_000);

  it('refuses a model without driver metadata', () => {
    const { tf } = engine;
    const other = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    expect(() => new DriverClassifier(tf, other)).toThrow(BadInputError);
    other.dispose();
  });
});
