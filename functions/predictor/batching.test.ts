// Batching seen from clients: concurrent requests over HTTP share model calls, and each still
// gets exactly the answer it would get alone, from the model version it is told about.
import type { LayersModel } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedModel } from './model-loader.js';
import { predictProbabilities } from './run-model.js';
import { tinyMnistModel } from '../../test/support/models.js';
import { aggregated, startHarness, type Harness } from '../../test/support/predictor.js';

const MAX_BATCH = 8;

/** Image `i`: 784 values in [0, 1], different for every `i`. */
function image(i: number): number[] {
  return Array.from({ length: 784 }, (_, j) => ((j * (2 * i + 3) * 7919 + i * 131) % 256) / 255);
}

interface V2Answer {
  model_version: string;
  outputs: { shape: number[]; data: number[] }[];
}

async function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, json: await res.json() };
}

const v2Body = (images: number[][]): unknown => ({
  inputs: [{ name: 'image', shape: [images.length, 784], datatype: 'FP32', data: images.flat() }],
});

function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] ?? NaN))).toBeLessThanOrEqual(1e-5));
}

describe('batched inference over HTTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      KASKADE_BATCH_MAX_SIZE: String(MAX_BATCH),
      KASKADE_BATCH_MAX_LATENCY_MS: '5',
      KASKADE_MAX_BATCH: '16',
    });
  });
  afterAll(async () => {
    await h.close();
  });

  /** The probabilities a model gives these images in a call of their own. */
  const alone = async (model: LayersModel, images: number[][]): Promise<number[]> => {
    const p = await predictProbabilities(h.engine.tf, model, {
      dtype: 'float32',
      shape: [images.length, 28, 28, 1],
      values: Float32Array.from(images.flat()),
    });
    return Array.from(p.values);
  };
  const served = (): ServedModel => {
    const current = h.predictor.repository.current('mnist');
    if (!current) throw new Error('no model served');
    return current;
  };
  const servedLayers = (): LayersModel => {
    const model = served().model;
    if (!model) throw new Error('the served model does not run on TF.js');
    return model;
  };

  it('answers each of many concurrent requests with its own probabilities, as if it ran alone', async () => {
    const { tf } = h.engine;
    const tensors = tf.memory().numTensors;
    const before = h.predictor.batcher.stats();
    // v2 requests of one and two images, and v1 requests, all at once.
    const requests = Array.from({ length: 30 }, (_, i) => {
      const images = i % 5 === 4 ? [image(i), image(100 + i)] : [image(i)];
      return { images, v1: i % 3 === 0 };
    });
    const answers = await Promise.all(
      requests.map(({ images, v1 }) =>
        v1
          ? post(`${h.url}/v1/models/mnist:predict`, { instances: images })
          : post(`${h.url}/v2/models/mnist/infer`, v2Body(images)),
      ),
    );
    const model = servedLayers();
    for (const [i, { images, v1 }] of requests.entries()) {
      const answer = answers[i];
      expect(answer?.status).toBe(200);
      const expected = await alone(model, images);
      if (v1) {
        expectClose((answer?.json as { predictions: number[][] }).predictions.flat(), expected);
      } else {
        const out = (answer?.json as V2Answer).outputs[0];
        expect(out?.shape).toEqual([images.length, 10]);
        expectClose(out?.data ?? [], expected);
      }
    }
    const after = h.predictor.batcher.stats();
    const calls = after.batches - before.batches;
    expect(after.requests - before.requests).toBe(requests.length);
    expect(calls).toBeLessThan(requests.length);
    expect(after.largestBatch).toBeGreaterThan(1);
    expect(after.largestBatch).toBeLessThanOrEqual(MAX_BATCH);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('fails a bad request alone: the good ones around it are answered', async () => {
    // A good request at position i sends image(i).
    const good = (i: number): unknown => v2Body([image(i)]);
    const bodies: Array<{ body: unknown; status: number; error?: string }> = [
      { body: good(0), status: 200 },
      {
        body: { inputs: [{ name: 'image', shape: [1, 28, 27], datatype: 'FP32', data: image(2).slice(0, 756) }] },
        status: 400,
        error: 'wrong shape [1,28,27]',
      },
      { body: good(2), status: 200 },
      {
        body: { inputs: [{ name: 'image', shape: [1, 784], datatype: 'FP32', data: ['NaN', ...image(4).slice(1)] }] },
        status: 400,
        error: 'not a finite number',
      },
      { body: good(4), status: 200 },
      {
        body: { inputs: [{ name: 'pixels', shape: [1, 784], datatype: 'FP32', data: image(6) }] },
        status: 400,
        error: 'unknown input "pixels"',
      },
      { body: good(6), status: 200 },
      { body: { instances: [image(8).slice(3)] }, status: 400, error: 'instances[0] has 781 values' },
      { body: good(8), status: 200 },
    ];
    const answers = await Promise.all(
      bodies.map(({ body }) =>
        post(`${h.url}/${'instances' in (body as object) ? 'v1/models/mnist:predict' : 'v2/models/mnist/infer'}`, body),
      ),
    );
    const model = servedLayers();
    for (const [i, expected] of bodies.entries()) {
      const answer = answers[i];
      expect(answer?.status, JSON.stringify(answer?.json)).toBe(expected.status);
      if (expected.error !== undefined) expect((answer?.json as { error: string }).error).toContain(expected.error);
      else expectClose((answer?.json as V2Answer).outputs[0]?.data ?? [], await alone(model, [image(i)]));
    }
  });

  it('never mixes models across a hot reload: every answer comes from the version it names', async () => {
    const { tf } = h.engine;
    const tensors = tf.memory().numTensors;
    // The published models are tinyMnistModel(seed); rebuilt here with the same seeds, they give the reference answers.
    const seeds = new Map<string, number>([[served().version, 1]]);
    for (let round = 1; round <= 3; round++) seeds.set(`job-m-r${round}`, 20 + round);
    const references = new Map<number, LayersModel>(
      [...new Set(seeds.values())].map((seed) => [seed, tinyMnistModel(tf, seed)]),
    );
    const seen: Array<{ version: string; images: number[][]; data: number[] }> = [];
    let stop = false;
    let next = 0;
    const answered = new Set<() => void>();
    const client = async (): Promise<void> => {
      while (!stop) {
        const i = next++;
        const images = [image(i % 50)];
        const { status, json } = await post(`${h.url}/v2/models/mnist/infer`, v2Body(images));
        expect(status).toBe(200);
        const answer = json as V2Answer;
        seen.push({ version: answer.model_version, images, data: answer.outputs[0]?.data ?? [] });
        for (const check of [...answered]) check();
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    /** Resolves once a request has been answered by `version` (by any when undefined). */
    const servedBy = (version?: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!seen.some((s) => version === undefined || s.version === version)) return;
          answered.delete(check);
          resolve();
        };
        answered.add(check);
        check();
      });
    try {
      await servedBy();
      for (let round = 1; round <= 3; round++) {
        await h.publish({ jobId: 'job-m', round, rounds: 3 }, seeds.get(`job-m-r${round}`));
        const res = await h.postAggregated(aggregated('job-m', round, 3, true));
        expect(res.headers.get('x-kaskade-outcome')).toBe('reloaded');
        // Traffic meets each new model before the next swap.
        await servedBy(`job-m-r${round}`);
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    expect(new Set(seen.map((s) => s.version)).size).toBeGreaterThanOrEqual(3);
    for (const s of seen) {
      const reference = references.get(seeds.get(s.version) ?? -1);
      if (!reference) throw new Error(`answer from an unknown version ${s.version}`);
      expectClose(s.data, await alone(reference, s.images));
    }
    for (const model of references.values()) model.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
