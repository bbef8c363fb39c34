// The fused GRU on wasm computes what TF.js's GRU computes on the CPU backend (outputs and every
// gradient), leaves nothing behind, and is saved and loaded as a plain TF.js GRU.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FusedGru, fusedGru } from './gru-layer.js';
import { GRU_SEQUENCE, GRU_SEQUENCE_GRAD } from './kernels/gru.js';
import { liveCounts, randomValues, relativeError, useWasm } from '../../../test/support/kernels.js';

interface Case {
  name: string;
  shape: [number, number, number];
  units: number;
  goBackwards?: boolean;
  returnSequences?: boolean;
  recurrentActivation?: 'hardSigmoid' | 'sigmoid';
  useBias?: boolean;
}

const cases: Case[] = [
  { name: 'last state', shape: [3, 7, 5], units: 4 },
  { name: 'whole sequence', shape: [3, 7, 5], units: 4, returnSequences: true },
  { name: 'backwards, last state', shape: [2, 6, 3], units: 5, goBackwards: true },
  { name: 'backwards, whole sequence', shape: [2, 6, 3], units: 5, goBackwards: true, returnSequences: true },
  { name: 'sigmoid gates', shape: [4, 5, 6], units: 3, recurrentActivation: 'sigmoid', returnSequences: true },
  { name: 'two steps', shape: [2, 2, 4], units: 3, returnSequences: true },
  { name: 'no bias, one sample', shape: [1, 9, 2], units: 6, useBias: false },
];

interface Result {
  output: Float32Array;
  /** d(loss)/d(weights) in the layer's weight order, then d(loss)/dx. */
  grads: Float32Array[];
}

/** Builds the layer, gives it seeded weights (scaled so gates leave their linear range) and differentiates a weighted sum of its output. */
function run(c: Case, make: (args: Parameters<typeof tf.layers.gru>[0]) => tf.layers.Layer): Result {
  const layer = make({
    units: c.units,
    goBackwards: c.goBackwards ?? false,
    returnSequences: c.returnSequences ?? false,
    recurrentActivation: c.recurrentActivation ?? 'hardSigmoid',
    useBias: c.useBias ?? true,
  });
  try {
    return tf.tidy(() => {
      const x = tf.tensor(randomValues(c.shape, 3), c.shape);
      layer.apply(x); // builds the weights
      layer.setWeights(layer.getWeights().map((w, i) => tf.mul(tf.tensor(randomValues(w.shape, 10 + i), w.shape), 2)));
      const variables = layer.trainableWeights
        .map((w) => w.read())
        .filter((v): v is tf.Variable => v instanceof tf.Variable);
      const loss = (input: tf.Tensor): tf.Scalar => {
        const y = layer.apply(input);
        if (!(y instanceof tf.Tensor)) throw new Error('one output expected');
        return tf.sum(tf.mul(y, tf.tensor(randomValues(y.shape, 5), y.shape)));
      };
      const { grads } = tf.variableGrads(() => loss(x), variables);
      const dx = tf.grad(loss)(x);
      const output = layer.apply(x);
      if (!(output instanceof tf.Tensor)) throw new Error('one output expected');
      return {
        output: output.dataSync<'float32'>(),
        grads: [
          ...variables.map((v) => grads[v.name]?.dataSync<'float32'>() ?? new Float32Array()),
          dx.dataSync<'float32'>(),
        ],
      };
    });
  } finally {
    layer.dispose();
  }
}

async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend('wasm');
  }
}

beforeAll(useWasm);
afterAll(() => tf.disposeVariables());

describe('fused GRU on wasm', () => {
  it.each(cases)('$name: output and gradients equal TF.js GRU on the CPU backend', async (c) => {
    const got = run(c, fusedGru);
    const want = await onCpu(() => run(c, (args) => tf.layers.gru(args)));
    expect(relativeError(got.output, want.output)).toBeLessThanOrEqual(1e-5);
    expect(got.grads).toHaveLength(want.grads.length);
    want.grads.forEach((w, i) =>
      expect(relativeError(got.grads[i] ?? new Float32Array(), w), `gradient ${i}`).toBeLessThanOrEqual(1e-4),
    );
  });

  it('runs as the two fused kernels, forward and backward', async () => {
    const c = cases[3];
    if (c === undefined) throw new Error('case missing');
    const profile = await tf.profile(() => {
      run(c, fusedGru);
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain(GRU_SEQUENCE);
    expect(names).toContain(GRU_SEQUENCE_GRAD);
    expect(names.filter((n) => n === 'Tanh')).toHaveLength(0);
  });

  it('leaves no tensor or wasm buffer behind', () => {
    const c = cases[1];
    if (c === undefined) throw new Error('case missing');
    run(c, fusedGru);
    const before = liveCounts();
    run(c, fusedGru);
    expect(liveCounts()).toEqual(before);
  });

  it('falls back to the step loop (same results) when a mask is given', async () => {
    const masked = (make: (args: Parameters<typeof tf.layers.gru>[0]) => tf.layers.Layer): Float32Array =>
      tf.tidy(() => {
        const model = tf.sequential({
          layers: [
            tf.layers.embedding({
              inputDim: 9,
              outputDim: 3,
              inputLength: 6,
              maskZero: true,
              embeddingsInitializer: tf.initializers.randomUniform({ seed: 1 }),
            }),
            make({
              units: 4,
              kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
              recurrentInitializer: tf.initializers.glorotUniform({ seed: 3 }),
            }),
          ],
        });
        const y = model.predict(
          tf.tensor2d([
            [0, 0, 3, 4, 5, 1],
            [2, 2, 8, 0, 0, 0],
          ]),
        );
        if (!(y instanceof tf.Tensor)) throw new Error('one output expected');
        const values = y.dataSync<'float32'>();
        model.dispose();
        return values;
      });
    const got = masked(fusedGru);
    const want = await onCpu(() => masked((args) => tf.layers.gru(args)));
    expect(relativeError(got, want)).toBeLessThanOrEqual(1e-5);
  });
});

describe('fused GRU in the layers format', () => {
  async function saved(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler((a) => {
        artifacts = a;
        return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
      }),
    );
    if (artifacts === undefined) throw new Error('nothing saved');
    return artifacts;
  }

  const bidirectional = (make: (args: Parameters<typeof tf.layers.gru>[0]) => tf.layers.Layer): tf.LayersModel =>
    tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: 20, outputDim: 4, inputLength: 5 }),
        tf.layers.bidirectional({ layer: make({ units: 3, returnSequences: true }) as tf.RNN }),
        tf.layers.dense({ units: 1 }),
      ],
    });

  it('saves as TF.js GRU layers with the same config and weight names', async () => {
    const [fused, plain] = [bidirectional(fusedGru), bidirectional((args) => tf.layers.gru(args))];
    const [a, b] = [await saved(fused), await saved(plain)];
    const topology = z.object({
      config: z.object({ layers: z.array(z.object({ config: z.object({ layer: z.unknown() }).partial() })) }),
    });
    const layerOf = (art: tf.io.ModelArtifacts): unknown =>
      topology.parse(art.modelTopology).config.layers[1]?.config.layer;
    const stripName = (layer: unknown): unknown =>
      JSON.parse(JSON.stringify(layer).replace(/"name":"[^"]*"/g, '"name":""'));
    expect(JSON.stringify(a.modelTopology)).toContain('"class_name":"GRU"');
    expect(layerOf(a)).toBeDefined();
    expect(stripName(layerOf(a))).toEqual(stripName(layerOf(b)));
    const names = (art: tf.io.ModelArtifacts) => (art.weightSpecs ?? []).map((s) => s.name.replace(/\d+/g, ''));
    expect(names(a)).toEqual(names(b));
    fused.dispose();
    plain.dispose();
  });

  it('loads back, fused, with the same predictions', async () => {
    const model = bidirectional(fusedGru);
    const artifacts = await saved(model);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const wrapped = loaded.layers[1];
    if (!(wrapped instanceof tf.layers.Layer) || !('forwardLayer' in wrapped) || !('backwardLayer' in wrapped))
      throw new Error('a Bidirectional layer expected');
    expect(wrapped.forwardLayer).toBeInstanceOf(FusedGru);
    expect(wrapped.backwardLayer).toBeInstanceOf(FusedGru);
    const x = tf.tensor2d([
      [1, 2, 3, 4, 5],
      [6, 0, 19, 2, 2],
    ]);
    const [p, q] = [model.predict(x), loaded.predict(x)];
    if (!(p instanceof tf.Tensor) || !(q instanceof tf.Tensor)) throw new Error('one output expected');
    expect(relativeError(q.dataSync(), p.dataSync())).toBe(0);
    tf.dispose([x, p, q]);
    model.dispose();
    loaded.dispose();
  });
});
