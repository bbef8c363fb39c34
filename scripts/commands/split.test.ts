// `kaskade split` writes halves that load back from storage and compose to the whole model.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../test/support/kernels.js';
import { makeTempDir, type TempDir } from '../../test/support/temp-dir.js';
import { createModelHandler } from '../../functions/_shared/store/model-handler.js';
import { openStore } from '../../functions/_shared/store/index.js';
import { listCuts } from '../../functions/_shared/split/cuts.js';
import { loadWholeModel } from '../../functions/split-half/halves.js';
import { formatCuts, writeHalves } from './split.js';

let dir: TempDir;
beforeAll(async () => {
  await useWasm();
  dir = await makeTempDir('kaskade-split-');
});
afterAll(async () => {
  tf.disposeVariables();
  await dir.remove();
});

describe('kaskade split', () => {
  it('lists every cut and writes halves that, loaded back, compose to the whole (max abs diff ≤ 1e-5)', async () => {
    const model = await loadWholeModel(tf, { model: 'resnet-small', seed: 5 });
    const cuts = listCuts(model);
    const table = formatCuts(cuts).split('\n');
    expect(table).toHaveLength(cuts.length + 2);
    expect(table[2]).toContain(cuts[0]!.layer);
    const store = openStore({ roots: [dir.url] });
    const urls = await writeHalves(tf, model, 'conv3_block1_out', store, `${dir.url}/halves`);
    const front = await tf.loadLayersModel(createModelHandler(store, urls.front));
    const back = await tf.loadLayersModel(createModelHandler(store, urls.back));
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 9);
    const whole = model.predict(x) as tf.Tensor;
    const composed = back.predict(front.predict(x)) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(whole, composed))).dataSync()[0]).toBeLessThanOrEqual(1e-5);
  });
});
