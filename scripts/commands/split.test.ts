// `kaskade split` writes halves that load back from storage and compose to the whole model.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../test/support/kernels.js';
import { makeTempDir, type TempDir } from '../../test/support/temp-dir.js';
import { createModelHandler } from '../../functions/_shared/store/model-handler.js';
import { openStore } from '../../functions/_shared/store/index.js';
import { listCuts } from '../../functions/_shared/split/cuts.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportOnnx } from '../../functions/_shared/serving/export-onnx.js';
import { loadServingConfig } from '../../functions/_shared/serving/config.js';
import { listOnnxCuts } from '../../functions/_shared/split/onnx-cuts.js';
import { readSplitFile } from '../../functions/_shared/split/stored.js';
import { loadHalf, loadWholeModel, type LoadedHalf } from '../../functions/split-half/halves.js';
import { formatCuts, writeHalves, writeOnnxHalves } from './split.js';

const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? NaN))), 0);
const compose = async (a: LoadedHalf, b: LoadedHalf, x: Float32Array): Promise<Float32Array> =>
  b.runner.run(await a.runner.run(x));

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

  it('writes halves the services load with HALF_URI, on ONNX Runtime and on TF.js', async () => {
    const model = await loadWholeModel(tf, { model: 'resnet-small', seed: 5 });
    const store = openStore({ roots: [dir.url] });
    const out = `${dir.url}/served`;
    await writeHalves(tf, model, 'conv4_block1_out', store, out, 'resnet-small');
    const stored = await readSplitFile(store, out);
    expect(stored).toMatchObject({ model: 'resnet-small', cut: { layer: 'conv4_block1_out' }, forms: { onnx: true } });
    const x = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.sin(i / 3));
    const whole = (await (model.predict(tf.tensor(x, [1, 32, 32, 3])) as tf.Tensor).data()) as Float32Array;
    // The cut is whatever split.json says, not SPLIT_CUT; the model is whatever the folders hold.
    const source = { model: 'resnet50', seed: 0, cut: 'v1', halves: out };
    const onOnnx = await Promise.all([loadHalf(tf, source, 'A', { store }), loadHalf(tf, source, 'B', { store })]);
    expect(onOnnx.map((h) => [h.runner.engine, h.cut.layer])).toEqual([
      ['onnxruntime', 'conv4_block1_out'],
      ['onnxruntime', 'conv4_block1_out'],
    ]);
    expect(maxAbsDiff(await compose(onOnnx[0], onOnnx[1], x), whole)).toBeLessThan(1e-4);
    const serving = loadServingConfig({ KASKADE_SERVING_ENGINE: 'tfjs' });
    const onTfjs = await Promise.all([
      loadHalf(tf, { ...source, serving }, 'A', { store }),
      loadHalf(tf, { ...source, serving }, 'B', { store }),
    ]);
    expect(onTfjs[1].runner.engine).toMatch(/^tfjs-/);
    expect(maxAbsDiff(await compose(onTfjs[0], onTfjs[1], x), whole)).toBeLessThanOrEqual(1e-5);
    await expect(loadHalf(tf, { ...source, halves: `${dir.url}/nothing` }, 'A', { store })).rejects.toThrow(
      /kaskade split --out/,
    );
  });

  it('splits an ONNX model into two .onnx halves that HALF_URI serves', async () => {
    const model = await loadWholeModel(tf, { model: 'resnet-small', seed: 5 });
    const bytes = exportOnnx(model);
    await writeFile(join(dir.path, 'whole.onnx'), bytes);
    const { cuts } = await listOnnxCuts(bytes);
    const cut = cuts.find((c) => c.layer === 'conv3_block1_out_relu')!;
    const store = openStore({ roots: [dir.url] });
    const out = `${dir.url}/onnx-halves`;
    await writeOnnxHalves(bytes, cut, `${dir.url}/whole.onnx`, store, out);
    expect((await readSplitFile(store, out)).forms).toEqual({ onnx: true, tfjs: false });
    const source = { model: 'resnet50', seed: 0, cut: 'v2', halves: out };
    const [a, b] = await Promise.all([loadHalf(tf, source, 'A', { store }), loadHalf(tf, source, 'B', { store })]);
    const x = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.cos(i));
    const whole = (await (model.predict(tf.tensor(x, [1, 32, 32, 3])) as tf.Tensor).data()) as Float32Array;
    expect(maxAbsDiff(await compose(a, b, x), whole)).toBeLessThan(1e-4);
  });
});
