// Many models on one predictor, over HTTP: the v2 repository extension (index, load, unload),
// models loaded on first use and freed on unload, concurrent requests to several models each
// answered by its own weights, per-model hot reload, the memory budget, and text input refused
// with a 400 that names the problem.
import type { LayersModel } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  barImage,
  mnistMetadata,
  publishNamed,
  tinyMnistModel,
  tinyTokenModel,
  tokenMetadata,
} from '../../test/support/models.js';
import { aggregated, startHarness, type Harness } from '../../test/support/predictor.js';
import { predictProbabilities } from './run-model.js';

const WORDS = ['good', 'bad', 'movie', 'great', 'awful'];

interface IndexEntry {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

interface InferAnswer {
  model_name: string;
  model_version: string;
  outputs: { data: number[] }[];
  error?: string;
}

const imageInfer = (pixels: number[]): unknown => ({
  inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data: pixels }],
});
const textInfer = (text: string): unknown => ({
  inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: [text] }],
});

/** A 28×28 image whose ink depends on `i`, so answers differ per request. */
function image(i: number): number[] {
  return barImage().map((v, p) => (v > 0 ? v : ((p * 7 + i * 13) % 17) / 40));
}

describe('several models, loaded on first use', () => {
  let h: Harness;
  let digitsA: LayersModel;
  let digitsB: LayersModel;
  let review: LayersModel;

  beforeAll(async () => {
    h = await startHarness({ KASKADE_MODEL_LOAD: 'first-use' }, { publishFirst: false });
    const { tf } = h.engine;
    digitsA = tinyMnistModel(tf, 1);
    digitsB = tinyMnistModel(tf, 9);
    review = tinyTokenModel(tf);
    await h.publishAs('mnist', digitsA, mnistMetadata({ jobId: 'job-a', round: 3, rounds: 3 }));
    await h.publishAs('digits', digitsB, mnistMetadata({ jobId: 'job-b', round: 2, rounds: 2 }));
    await h.publishAs('imdb', review, tokenMetadata({ jobId: 'job-t', round: 1, rounds: 1 }), WORDS);
  });

  afterAll(async () => {
    digitsA.dispose();
    digitsB.dispose();
    review.dispose();
    await h.close();
  });

  const index = async (body: unknown = {}): Promise<IndexEntry[]> =>
    (await (await h.post('/v2/repository/index', body)).json()) as IndexEntry[];

  it('lists every published model, none loaded yet', async () => {
    expect(await index()).toEqual([
      { name: 'digits', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'imdb', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'mnist', state: 'UNAVAILABLE', reason: 'not loaded' },
    ]);
    expect(await index({ ready: true })).toEqual([]);
    const v2 = (await (await fetch(`${h.url}/v2`)).json()) as { extensions: string[] };
    expect(v2.extensions).toContain('model_repository');
  });

  it('loads a model on its first request and lists it READY with its version', async () => {
    const res = await h.post('/v2/models/imdb/infer', textInfer('a good movie'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as InferAnswer).model_version).toBe('job-t-r1');
    expect(await index({ ready: true })).toEqual([{ name: 'imdb', version: 'job-t-r1', state: 'READY', reason: '' }]);
  });

  it('loads and unloads through the repository API; unloading frees the model tensors', async () => {
    const { tf } = h.engine;
    const load = await h.post('/v2/repository/models/mnist/load', {});
    expect(load.status).toBe(200);
    expect((await index()).find((m) => m.name === 'mnist')).toMatchObject({ state: 'READY', version: 'job-a-r3' });
    const withModel = tf.memory().numTensors;
    const unload = await h.post('/v2/repository/models/mnist/unload', {});
    expect(unload.status).toBe(200);
    expect(tf.memory().numTensors).toBe(withModel - digitsA.weights.length);
    expect((await index()).find((m) => m.name === 'mnist')).toEqual({
      name: 'mnist',
      state: 'UNAVAILABLE',
      reason: 'not loaded',
    });
    // Its next use loads it again.
    expect((await h.post('/v2/models/mnist/infer', imageInfer(barImage()))).status).toBe(200);
  });

  it.each([
    { name: 'load an unknown model', path: '/v2/repository/models/nope/load', status: 404 },
    { name: 'unload an unknown model', path: '/v2/repository/models/nope/unload', status: 404 },
    { name: 'infer on an unknown model', path: '/v2/models/nope/infer', status: 404 },
    { name: 'an index body that is not an object', path: '/v2/repository/index', status: 400, body: [1] },
  ])('answers $status to $name', async ({ path, status, body }) => {
    const res = await h.post(path, body ?? imageInfer(barImage()));
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toBeTruthy();
  });

  it('answers concurrent requests to two image models and a text model each with its own weights', async () => {
    const { tf } = h.engine;
    const expected = async (model: LayersModel, pixels: number[]): Promise<number[]> =>
      Array.from(
        (
          await predictProbabilities(tf, model, {
            dtype: 'float32',
            shape: [1, 28, 28, 1],
            values: Float32Array.from(pixels),
          })
        ).values,
      );
    const cases = Array.from({ length: 36 }, (_, i) => {
      if (i % 3 === 2)
        return {
          name: 'imdb',
          body: textInfer(i % 2 === 0 ? 'great movie' : 'awful bad movie'),
          model: null,
          pixels: [],
        };
      const pixels = image(i);
      return i % 3 === 0
        ? { name: 'mnist', body: imageInfer(pixels), model: digitsA, pixels }
        : { name: 'digits', body: imageInfer(pixels), model: digitsB, pixels };
    });
    const answers = await Promise.all(
      cases.map(async (c) => (await (await h.post(`/v2/models/${c.name}/infer`, c.body)).json()) as InferAnswer),
    );
    for (const [i, c] of cases.entries()) {
      const answer = answers[i];
      expect(answer?.model_name).toBe(c.name);
      expect(answer?.model_version).toBe({ mnist: 'job-a-r3', digits: 'job-b-r2', imdb: 'job-t-r1' }[c.name]);
      if (c.model === null) continue;
      const want = await expected(c.model, c.pixels);
      answer?.outputs[0]?.data.forEach((p, k) => expect(p).toBeCloseTo(want[k] ?? NaN, 5));
    }
    // The two image models really differ on these inputs (else the check above proves nothing).
    expect(await expected(digitsA, image(0))).not.toEqual(await expected(digitsB, image(0)));
  });

  it.each([
    { name: 'an empty review', model: 'imdb', body: textInfer('   '), error: 'the review is empty' },
    { name: 'a review of punctuation only', model: 'imdb', body: textInfer('?!… —'), error: 'the review is empty' },
    {
      name: 'a review over the token limit',
      model: 'imdb',
      body: textInfer('good '.repeat(12)),
      error: "over this model's token limit of 11 words",
    },
    {
      name: 'text sent to an image model',
      model: 'mnist',
      body: textInfer('a good movie'),
      error: 'this is an image model',
    },
    { name: 'v1 text over the token limit', model: 'imdb', body: null, error: 'token limit', v1: ['good '.repeat(20)] },
  ])('refuses $name with 400 naming the problem', async ({ model, body, error, v1 }) => {
    const res = v1
      ? await h.post(`/v1/models/${model}:predict`, { instances: v1 })
      : await h.post(`/v2/models/${model}/infer`, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain(error);
  });

  it('reloads only the model whose pointer moved when its job finishes', async () => {
    await h.post('/v2/repository/models/digits/load', {});
    const next = tinyTokenModel(h.engine.tf);
    await h.publishAs('imdb', next, tokenMetadata({ jobId: 'job-t2', round: 4, rounds: 4 }), WORDS);
    next.dispose();
    const res = await h.postAggregated(aggregated('job-t2', 4, 4, true));
    expect(res.status).toBe(204);
    expect(res.headers.get('x-kaskade-outcome')).toBe('reloaded');
    expect(res.headers.get('x-kaskade-model-version')).toBe('job-t2-r4');
    const versions = Object.fromEntries((await index({ ready: true })).map((m) => [m.name, m.version]));
    expect(versions).toMatchObject({ imdb: 'job-t2-r4', digits: 'job-b-r2' });
  });
});

describe('a memory budget that holds one model', () => {
  let h: Harness;

  beforeAll(async () => {
    // A tiny CNN holds ~28 KB of weights: a 40 KB budget holds one, not two.
    h = await startHarness(
      { KASKADE_MODEL_LOAD: 'first-use', KASKADE_MODELS_MEMORY_MB: '0.04' },
      { publishFirst: false },
    );
    for (const [name, seed] of [
      ['first', 1],
      ['second', 2],
    ] as const) {
      const model = tinyMnistModel(h.engine.tf, seed);
      await h.publishAs(name, model, mnistMetadata({ jobId: `job-${name}` }));
      model.dispose();
    }
  });

  afterAll(async () => {
    await h.close();
  });

  it('unloads the least recently used model when another one loads', async () => {
    const ready = async (): Promise<string[]> =>
      ((await (await h.post('/v2/repository/index', { ready: true })).json()) as IndexEntry[]).map((m) => m.name);
    expect((await h.post('/v2/models/first/infer', imageInfer(barImage()))).status).toBe(200);
    expect(await ready()).toEqual(['first']);
    expect((await h.post('/v2/models/second/infer', imageInfer(barImage()))).status).toBe(200);
    expect(await ready()).toEqual(['second']);
    expect((await h.post('/v2/models/first/infer', imageInfer(barImage()))).status).toBe(200);
    expect(await ready()).toEqual(['first']);
  });
});

describe('loading at start', () => {
  it('loads every published model before it reports ready', async () => {
    const h = await startHarness(
      { KASKADE_MODEL_LOAD: 'start' },
      {
        before: async (store, modelsUrl, engine) => {
          const model = tinyMnistModel(engine.tf, 4);
          await publishNamed(store, modelsUrl, 'fashion', model, mnistMetadata({ jobId: 'job-f' }));
          model.dispose();
        },
      },
    );
    try {
      // startHarness waits for start-up, as the readiness probe does.
      expect((await fetch(`${h.url}/v2/health/ready`)).status).toBe(200);
      const index = (await (await h.post('/v2/repository/index', {})).json()) as IndexEntry[];
      expect(index.map((m) => [m.name, m.state])).toEqual([
        ['fashion', 'READY'],
        ['mnist', 'READY'],
      ]);
    } finally {
      await h.close();
    }
  });
});
