// The layer function over HTTP (the real handler on an ephemeral port): binary CloudEvents in
// and out, the step discipline (kept inputs, one apply per step, stale steps refused),
// checkpoints and resume, every layer type against its TF.js layers equivalent, and 400s.
import type * as tfjs from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChainModel, setChainWeights } from '../_shared/layers/export.js';
import { parseLayerSpec } from '../_shared/layers/spec.js';
import { decodeTensors, encodeTensors, toTfTensors } from '../_shared/wire/index.js';
import { layerEventHeaders, LAYER_EVENT_TYPES } from '../../events/layers.js';
import { startLayerServers, type LayerServers } from '../../test/support/layer-servers.js';
import type { LayerClient } from '../../events/layer-client.js';

function f32(shape: number[], fill: (i: number) => number): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  return encodeTensors({ x: { dtype: 'F32', shape, data: Float32Array.from({ length: size }, (_, i) => fill(i)) } });
}

function values(body: Uint8Array): { shape: number[]; data: Float32Array } {
  const [t] = Object.values(decodeTensors(body).tensors);
  if (t?.dtype !== 'F32') throw new Error('expected one F32 tensor');
  return { shape: t.shape, data: t.data };
}

describe('layer function', () => {
  let layers: LayerServers;
  let client: LayerClient;
  let url: string;
  beforeAll(async () => {
    layers = await startLayerServers(1);
    [client] = layers.clients({ retries: 1 }) as [LayerClient];
    url = layers.servers[0]?.url ?? '';
  });
  afterAll(async () => {
    await layers.close();
  });

  it.each([
    {
      name: 'conv with padding 1 and stride 2',
      type: 'conv',
      config: { in_channels: 2, out_channels: 3, kernel_size: 3, stride: 2, padding: 1, pool_size: 2 },
      shape: [3, 9, 9, 2],
    },
    {
      name: 'conv with same padding, no pooling',
      type: 'ConvLayer',
      config: { in_channels: 1, out_channels: 2, kernel_size: 5, padding: 'same', pool_size: 1 },
      shape: [2, 8, 8, 1],
    },
    {
      name: 'fc with ReLU on images',
      type: 'FcLayer',
      config: { in_features: 48, out_features: 5 },
      shape: [2, 4, 4, 3],
    },
    { name: 'fc identity', type: 'fc', config: { in_features: 6, out_features: 4, activation: 'none' }, shape: [3, 6] },
    { name: 'flatten', type: 'flatten', config: {}, shape: [2, 3, 3, 2] },
    { name: 'batchnorm (inference)', type: 'batchnorm', config: { num_features: 3 }, shape: [2, 4, 4, 3] },
    { name: 'dropout (inference)', type: 'dropout', config: { p: 0.3 }, shape: [2, 5] },
  ])('$name: the layer service answers what the TF.js layers model answers', async ({ type, config, shape }) => {
    const { tf } = layers.engine;
    const jobId = `types-${type}-${shape.join('x')}`;
    await client.initialize(jobId, 5, undefined, type, config);
    const input = f32(shape, (i) => Math.sin(i * 0.37));
    const got = values(await client.forward({ jobId, step: 0, microbatch: 0 }, input, false));
    const spec = parseLayerSpec(type, config);
    const model = buildChainModel(tf, [spec], shape.slice(1));
    const weights = toTfTensors(decodeTensors(await client.getWeights(jobId)));
    setChainWeights(model, [spec], [weights]);
    const x = tf.tensor(values(input).data, shape);
    const want = model.predict(x) as tfjs.Tensor;
    expect(got.shape).toEqual(want.shape);
    const expected = await want.data();
    got.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i] ?? NaN, 4));
    tf.dispose([x, want, ...Object.values(weights)]);
    model.dispose();
  });

  it('keeps inputs per micro-batch, accumulates gradients, applies a step once, refuses stale steps, resumes from its checkpoint', async () => {
    const jobId = 'steps';
    await client.initialize(jobId, 1, { name: 'sgd', learningRate: 0.1 }, 'fc', {
      in_features: 4,
      out_features: 2,
      activation: 'none',
    });
    const x = f32([2, 4], (i) => i / 8);
    const dy = encodeTensors({ dy: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 0, 0, 1]) } });
    await client.forward({ jobId, step: 1, microbatch: 0 }, x);
    await client.forward({ jobId, step: 1, microbatch: 1 }, x);
    const registry = layers.servers[0]?.registry;
    expect((await registry?.get(jobId))?.heldCount()).toBe(2);
    const first = await client.backward({ jobId, step: 1, microbatch: 0 }, dy, true);
    await expect(client.apply(jobId, 1, 2)).rejects.toThrow(/step 1 has 1 of 2 micro-batch gradients/);
    // A repeated backward (a retry after a lost answer) gets the same answer and adds nothing.
    expect(await client.backward({ jobId, step: 1, microbatch: 0 }, dy, true)).toEqual(first);
    await expect(client.apply(jobId, 1, 2)).rejects.toThrow(/step 1 has 1 of 2 micro-batch gradients/);
    await expect(client.backward({ jobId, step: 1, microbatch: 5 }, dy, true)).rejects.toThrow(
      /409: .*no forward kept for step 1 micro-batch 5/,
    );
    await client.backward({ jobId, step: 1, microbatch: 1 }, dy, false);
    expect((await registry?.get(jobId))?.heldCount()).toBe(0);
    await client.apply(jobId, 1, 2);
    await client.apply(jobId, 1, 2); // a retried apply changes nothing
    const applied = values(await client.getWeights(jobId));
    await expect(client.forward({ jobId, step: 1, microbatch: 0 }, x)).rejects.toThrow(
      /409: .*step 1 is already applied/,
    );
    await client.save(jobId);
    // A restarted pod has nothing in memory and resumes from the checkpoint.
    await layers.servers[0]?.kill();
    await layers.restart(0);
    expect(values(await client.getWeights(jobId)).data).toEqual(applied.data);
    await expect(client.forward({ jobId, step: 1, microbatch: 0 }, x)).rejects.toThrow(/already applied/);
    await client.forward({ jobId, step: 2, microbatch: 0 }, x);
  });

  it('keeps Adam moments across steps and in checkpoints (a resumed layer steps as an uninterrupted one)', async () => {
    const entry = { type: 'fc', config: { in_features: 3, out_features: 2 } };
    const run = async (jobId: string, restartAfter: number | undefined): Promise<Float32Array> => {
      await client.initialize(jobId, 9, { name: 'adam', learningRate: 0.05 }, entry.type, entry.config);
      for (let step = 1; step <= 3; step++) {
        const x = f32([4, 3], (i) => Math.cos(i + step));
        await client.forward({ jobId, step, microbatch: 0 }, x);
        await client.backward(
          { jobId, step, microbatch: 0 },
          encodeTensors({
            dy: { dtype: 'F32', shape: [4, 2], data: Float32Array.from({ length: 8 }, (_, i) => ((i % 3) - 1) * 0.3) },
          }),
          true,
        );
        await client.apply(jobId, step, 1);
        if (step === restartAfter) {
          await client.save(jobId);
          await layers.servers[0]?.kill();
          await layers.restart(0);
        }
      }
      const { tensors } = decodeTensors(await client.getWeights(jobId));
      return tensors.kernel?.data as Float32Array;
    };
    expect(await run('adam-resumed', 2)).toEqual(await run('adam-straight', undefined));
  });

  it.each([
    {
      name: 'a wrong input shape',
      body: () => f32([2, 5], () => 1),
      error: /fc layer has in_features 4, input has 5 features/,
    },
    {
      name: 'a wrong dtype',
      body: () => encodeTensors({ x: { dtype: 'I32', shape: [2, 4], data: new Int32Array(8) } }),
      error: /input must be float32/,
    },
    {
      name: 'a body that is not safetensors',
      body: () => new TextEncoder().encode('[[1,2,3,4]]'),
      error: /header|safetensors/i,
    },
  ])('answers 400 for $name', async ({ body, error }) => {
    await client.initialize('bad', 1, undefined, 'fc', { in_features: 4, out_features: 2 });
    const response = await fetch(`${url}/forward`, {
      method: 'POST',
      headers: layerEventHeaders(LAYER_EVENT_TYPES.forwardRequested, '/test', { jobId: 'bad', step: 1, microbatch: 0 }),
      body: Buffer.from(body()),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(error);
  });

  it.each([
    { name: 'an unknown layer type', body: { type: 'lstm' }, error: /unknown layer type "lstm"/ },
    {
      name: 'a bad config',
      body: { type: 'conv', config: { in_channels: 0, out_channels: 2 } },
      error: /config\.in_channels/,
    },
    {
      name: 'an unknown config field',
      body: { type: 'fc', config: { in_features: 2, out_features: 2, bias: false } },
      error: /config/,
    },
    { name: 'no type on a generic service', body: {}, error: /needs "type" and "config"/ },
  ])('initialize answers 400 for $name', async ({ body, error }) => {
    const response = await fetch(`${url}/initialize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: 'init-bad', ...body }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(error);
  });

  it('keeps the original JSON forms: /forward {input} → {output}, /backward {output_grad} → {input_grad}', async () => {
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    await post('/initialize', {
      type: 'ConvLayer',
      config: { in_channels: 1, out_channels: 2, kernel_size: 3, padding: 1 },
    });
    const input = [[Array.from({ length: 4 }, (_, y) => Array.from({ length: 4 }, (_, x) => x - y))]]; // NCHW [1, 1, 4, 4]
    const { output } = await post('/forward', { input });
    expect([(output as unknown[]).length, (output as unknown[][])[0]?.length]).toEqual([1, 2]); // NCHW [1, 2, 2, 2]
    const grad = JSON.parse(JSON.stringify(output).replace(/-?\d+(\.\d+)?(e-?\d+)?/g, '0.5')) as unknown;
    const { input_grad } = await post('/backward', { output_grad: grad, learning_rate: 0.01 });
    expect(JSON.stringify(input_grad).startsWith('[[[[')).toBe(true);
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; jobs: string[] };
    expect(health.status).toBe('ok');
    expect(health.jobs).toContain('default');
  });
});
