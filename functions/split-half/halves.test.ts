// Where a half comes from and which engine runs it: the built-in small ResNet cut on its layers
// graph and exported half by half to ONNX Runtime (TF.js when forced), a user's `.onnx` file cut
// on its ONNX graph, and the class names half B answers with.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../test/support/kernels.js';
import { makeTempDir, type TempDir } from '../../test/support/temp-dir.js';
import { BadInputError, UnsupportedModelError } from '../_shared/errors.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { exportOnnx } from '../_shared/serving/export-onnx.js';
import { openStore } from '../_shared/store/index.js';
import type { Store } from '../_shared/store/types.js';
import type { Cut } from '../_shared/split/cuts.js';
import { chooseOnnxCut, loadHalf, loadWholeModel, type HalfSource, type LoadedHalf } from './halves.js';
import { loadLabels } from './labels.js';

let dir: TempDir;
let store: Store;
const x = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.cos(i / 5));

beforeAll(async () => {
  await useWasm();
  dir = await makeTempDir('kaskade-halves-');
  store = openStore({ roots: [dir.url] });
});
afterAll(async () => {
  tf.disposeVariables();
  await dir.remove();
});

async function both(source: HalfSource): Promise<{ a: LoadedHalf; b: LoadedHalf; y: Float32Array }> {
  const a = await loadHalf(tf, source, 'A', { store });
  const b = await loadHalf(tf, source, 'B', { store });
  return { a, b, y: await b.runner.run(await a.runner.run(x)) };
}

async function wholeOnTfjs(): Promise<Float32Array> {
  const whole = await loadWholeModel(tf, { model: 'resnet-small', seed: 3 });
  const y = whole.predict(tf.tensor(x, [1, 32, 32, 3])) as tf.Tensor;
  const data = (await y.data()) as Float32Array;
  y.dispose();
  whole.dispose();
  return data;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? NaN))), 0);

describe('loadHalf', () => {
  it('runs both halves of the built-in model on ONNX Runtime by default, channels-first at the cut, equal to TF.js', async () => {
    const { a, b, y } = await both({ model: 'resnet-small', seed: 3, cut: 'v2' });
    expect([a.runner.engine, b.runner.engine]).toEqual(['onnxruntime', 'onnxruntime']);
    expect(a.cut.layer).toBe('conv3_block1_out');
    // TF.js's cut tensor is 4×4×64 (NHWC); the ONNX halves pass it as 64×4×4, no transposes.
    expect(a.runner.outputShape).toEqual([64, 4, 4]);
    expect(b.runner.inputShape).toEqual([64, 4, 4]);
    expect(maxAbsDiff(y, await wholeOnTfjs())).toBeLessThan(1e-4);
  });

  it('runs on TF.js when KASKADE_SERVING_ENGINE=tfjs', async () => {
    const serving = loadServingConfig({ KASKADE_SERVING_ENGINE: 'tfjs' });
    const { a, b, y } = await both({ model: 'resnet-small', seed: 3, cut: 'v2', serving });
    expect(a.runner.engine).toMatch(/^tfjs-/);
    expect(b.runner.inputShape).toEqual([4, 4, 64]);
    expect(maxAbsDiff(y, await wholeOnTfjs())).toBeLessThan(1e-5);
  });

  it("cuts a user's .onnx file (MODEL_URI) on its ONNX graph; TF.js cannot run it", async () => {
    const whole = await loadWholeModel(tf, { model: 'resnet-small', seed: 3 });
    const path = join(dir.path, 'resnet-small.onnx');
    await writeFile(path, exportOnnx(whole));
    whole.dispose();
    const model = `${dir.url}/resnet-small.onnx`;
    const { a, b, y } = await both({ model, seed: 0, cut: 'v2' });
    expect(a.cut.layer).toBe('conv3_block1_out_relu');
    expect(b.runner.engine).toBe('onnxruntime');
    expect(maxAbsDiff(y, await wholeOnTfjs())).toBeLessThan(1e-4);
    const balanced = await loadHalf(tf, { model, seed: 0, cut: 'balanced' }, 'A', { store });
    const share = balanced.cut.flopsFront / (balanced.cut.flopsFront + balanced.cut.flopsBack);
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.7);
    const serving = loadServingConfig({ KASKADE_SERVING_ENGINE: 'tfjs' });
    await expect(loadHalf(tf, { model, seed: 0, cut: 'v2', serving }, 'A', { store })).rejects.toThrow(
      UnsupportedModelError,
    );
    await expect(loadHalf(tf, { model, seed: 0, cut: 'no_such_tensor' }, 'A', { store })).rejects.toThrow(
      BadInputError,
    );
  });
});

describe('loadLabels', () => {
  const noStore = (): Store => {
    throw new Error('no store needed');
  };

  it("names ImageNet's classes for a 1000-class model from the installed package, and numbers the others", async () => {
    const imagenet = await loadLabels('auto', 1000, noStore);
    expect(imagenet(0)).toBe('tench, Tinca tinca');
    expect(imagenet(999)).toBe('toilet tissue, toilet paper, bathroom tissue');
    expect((await loadLabels('auto', 10, noStore))(3)).toBe('class 3');
    expect((await loadLabels('none', 1000, noStore))(0)).toBe('class 0');
    await expect(loadLabels('imagenet', 10, noStore)).rejects.toThrow(BadInputError);
  });

  it('reads a configured list, one name a line, and refuses one of the wrong length', async () => {
    await writeFile(join(dir.path, 'labels.txt'), 'cat\ndog\nbird\n');
    const labels = await loadLabels(`${dir.url}/labels.txt`, 3, () => store);
    expect([0, 1, 2].map(labels)).toEqual(['cat', 'dog', 'bird']);
    await expect(loadLabels(`${dir.url}/labels.txt`, 10, () => store)).rejects.toThrow(/names 3 classes/);
  });
});

describe('chooseOnnxCut', () => {
  const cut = (layer: string, flopsFront: number): Cut => ({
    layer,
    index: flopsFront,
    shape: [1],
    bytes: 4,
    flopsFront,
    flopsBack: 10 - flopsFront,
    paramsFront: 0,
    paramsBack: 0,
  });

  it("finds the seed's stage cuts by torchvision's names and by Keras's, and balanced by FLOPs", () => {
    const torch = [
      cut('/maxpool/MaxPool_output_0', 1),
      cut('/layer1/layer1.2/relu_2/Relu_output_0', 2),
      cut('/layer2/layer2.0/relu_2/Relu_output_0', 3),
      cut('/layer2/layer2.3/relu_2/Relu_output_0', 4),
      cut('/layer3/layer3.5/relu_2/Relu_output_0', 7),
      cut('/avgpool/GlobalAveragePool_output_0', 9),
    ];
    expect(['v1', 'v2', 'v3'].map((v) => chooseOnnxCut(torch, v).layer)).toEqual([
      '/layer3/layer3.5/relu_2/Relu_output_0',
      '/layer2/layer2.3/relu_2/Relu_output_0',
      '/layer1/layer1.2/relu_2/Relu_output_0',
    ]);
    expect(chooseOnnxCut(torch, 'balanced').layer).toBe('/layer2/layer2.3/relu_2/Relu_output_0');
    const keras = [cut('conv3_block3_out_relu', 4), cut('conv3_block4_out_relu', 5), cut('conv4_block1_add', 6)];
    expect(chooseOnnxCut(keras, 'v2').layer).toBe('conv3_block4_out_relu');
    expect(() => chooseOnnxCut(keras, 'v1')).toThrow(UnsupportedModelError);
  });
});
