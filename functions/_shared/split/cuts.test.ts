// The split-point finder: every cut it lists has exactly one tensor crossing (no residual
// connection spans it), and the two halves composed compute the whole model.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../../test/support/kernels.js';
import { RESNET50_CUT_POINTS, SMALL_RESNET, buildResNet50 } from '../models/resnet50.js';
import { type Cut, cutByFlopRatio, cutByLatency, listCuts, modelGraph, splitAt } from './cuts.js';

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

describe('listCuts', () => {
  let model: tf.LayersModel;
  beforeAll(() => {
    model = buildResNet50(tf, { ...SMALL_RESNET, seed: 1 });
  });

  it('finds the stem and every block output of a ResNet, and nothing inside a block', () => {
    const cuts = listCuts(model).map((c) => c.layer);
    for (const stage of RESNET50_CUT_POINTS.slice(1)) expect(cuts).toContain(stage.replace(/block\d+/, 'block1'));
    expect(cuts).toContain('conv5_block1_out');
    expect(cuts).toContain('pool1_pool');
    expect(cuts.filter((c) => /_block\d+_\d_(conv|bn|relu)$/.test(c))).toEqual([]);
  });

  it('never cuts where a residual connection crosses', () => {
    const graph = modelGraph(model);
    for (const cut of listCuts(model)) {
      const before = new Set(graph.slice(0, cut.index + 1).map((l) => l.name));
      const crossing = new Set(graph.slice(cut.index + 1).flatMap((l) => l.inbound.filter((n) => before.has(n))));
      expect([...crossing], cut.layer).toEqual([cut.layer]);
    }
  });

  it('gives FLOPs, parameters and crossing bytes that add up', () => {
    const cuts = listCuts(model);
    const total = model.countParams();
    for (const c of cuts) {
      expect(c.paramsFront + c.paramsBack).toBe(total);
      expect(c.bytes).toBe(4 * c.shape.reduce((a, b) => a * b, 1));
      expect(c.flopsFront).toBeGreaterThan(0);
    }
    const fronts = cuts.map((c) => c.flopsFront);
    expect([...fronts].sort((a, b) => a - b)).toEqual(fronts);
  });

  it('chooses by FLOP ratio and by a latency model', () => {
    const cuts = listCuts(model);
    expect(cutByFlopRatio(cuts, 0.001).layer).toBe(cuts[0]!.layer);
    const at = (layer: string, front: number): Cut => ({
      layer,
      index: 0,
      shape: [1],
      bytes: 4,
      flopsFront: front,
      flopsBack: 100 - front,
      paramsFront: 0,
      paramsBack: 0,
    });
    const synthetic = [at('a', 10), at('b', 45), at('c', 70)];
    expect(cutByFlopRatio(synthetic, 0.5).layer).toBe('b');
    expect(cutByFlopRatio(synthetic, 0.6).layer).toBe('c');
    expect(() => cutByFlopRatio(synthetic, 1)).toThrow(/FLOP ratio/);
    const names = modelGraph(model).map((l) => l.name);
    // A slow front and a fast back with a fast link: cut as early as possible.
    const slowFront = { front: new Map(names.map((n) => [n, 10])), back: new Map(names.map((n) => [n, 1])) };
    expect(cutByLatency(model, cuts, slowFront, 1e12).cut.layer).toBe(cuts[0]!.layer);
    // A very slow link: cut where the crossing tensor is smallest.
    const smallest = cuts.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    const even = { front: new Map(names.map((n) => [n, 1])), back: new Map(names.map((n) => [n, 1])) };
    expect(cutByLatency(model, cuts, even, 1).cut.bytes).toBe(smallest.bytes);
  });
});

describe('splitAt', () => {
  it('halves composed equal the whole model at every cut (max abs diff ≤ 1e-5)', () => {
    const model = buildResNet50(tf, { ...SMALL_RESNET, seed: 2 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3);
    const whole = model.predict(x) as tf.Tensor;
    for (const cut of listCuts(model)) {
      const { front, back } = splitAt(tf, model, cut.layer);
      const mid = front.predict(x) as tf.Tensor;
      expect(mid.shape.slice(1), cut.layer).toEqual(cut.shape);
      const y = back.predict(mid) as tf.Tensor;
      const diff = tf.max(tf.abs(tf.sub(y, whole))).dataSync()[0]!;
      expect(diff, cut.layer).toBeLessThanOrEqual(1e-5);
      tf.dispose([mid, y]);
    }
    tf.dispose([x, whole]);
  });

  it('refuses a layer inside a residual block', () => {
    const model = buildResNet50(tf, { ...SMALL_RESNET, seed: 4 });
    expect(() => splitAt(tf, model, 'conv3_block1_2_conv')).toThrow(/not a cut/);
  });
});
