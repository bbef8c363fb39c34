// The image seam on ONNX Runtime: the exported MobileNet answers what TF.js answers.
import { describe, expect, it } from 'vitest';
import { initEngine } from '../_shared/engine/index.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { seededRandom } from '../_shared/data/random.js';
import { TfjsImageModel, classify } from './image-model.js';
import { buildMobileNet } from './mobilenet.js';
import { OnnxImageModel } from './onnx-image-model.js';

describe('OnnxImageModel', () => {
  it('gives the probabilities TF.js gives, within 1e-4', async () => {
    const { tf } = await initEngine();
    const meta = {
      kind: 'kaskade.edge-image/v1',
      labels: ['a', 'b', 'c', 'd', 'e', 'f'],
      inputSize: 32,
      dataset: 'test',
    };
    const make = () => {
      const net = buildMobileNet(tf, { classes: 6, inputSize: 32, alpha: 0.25, seed: 5 });
      net.setUserDefinedMetadata(meta);
      return net;
    };
    // Batch norm with statistics away from the defaults, so the export of every layer matters.
    const moved = (net: ReturnType<typeof make>) => {
      for (const layer of net.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
        layer.setWeights(layer.getWeights().map((w, i) => tf.tidy(() => (i === 3 ? w.add(0.5) : w.add(0.1)))));
      }
      return net;
    };
    const reference = new TfjsImageModel(tf, moved(make()));
    const onnx = await OnnxImageModel.fromLayers(moved(make()), loadServingConfig({}).onnx);
    expect(onnx.engine).toBe('onnx');
    const r = seededRandom(3);
    const pixels = Float32Array.from({ length: 32 * 32 * 3 }, () => r());
    const [a, b] = [await reference.predict(pixels), await onnx.predict(pixels)];
    expect(b.length).toBe(6);
    let worst = 0;
    for (let i = 0; i < a.length; i += 1) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect((await classify(onnx, pixels)).top5.map((t) => t.label)).toEqual(
      (await classify(reference, pixels)).top5.map((t) => t.label),
    );
    await expect(onnx.predict(new Float32Array(10))).rejects.toThrow(/expected 32×32×3 pixels/);
    reference.dispose();
    onnx.dispose();
  });
});
