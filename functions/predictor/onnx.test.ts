// The predictor on ONNX Runtime, end to end over HTTP: a trained model published with
// model.onnx runs on ONNX Runtime with the same answers as TF.js; one without falls back to
// TF.js; a user's own ONNX model (made here, never downloaded) is served over v2 and v1 with its
// own tensor names; a corrupt model.onnx is refused clearly while the previous model keeps serving.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../_shared/log.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { MODEL_ONNX_FILE, exportOnnx } from '../_shared/serving/export-onnx.js';
import { publishLatest } from '../_shared/store/latest.js';
import { openStore } from '../_shared/store/index.js';
import { barImage, mnistMetadata, tinyMnistModel, writeModelFolder } from '../../test/support/models.js';
import { linearClassifierExpected, linearClassifierOnnx } from '../../test/support/onnx-models.js';
import { startHarness, type Harness } from '../../test/support/predictor.js';
import { makeTempDir } from '../../test/support/temp-dir.js';
import { initEngine } from '../_shared/engine/index.js';
import { loadConfig } from './config.js';
import { engineLoader, onnxFileIdentity } from './onnx-loader.js';
import { publishedModels } from './published-models.js';

interface V2Answer {
  model_version: string;
  outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Publishes the tiny MNIST model as mnist/<job>/round-1 with model.onnx beside model.json (as the aggregator does). */
async function publishWithOnnx(
  harness: Pick<Harness, 'store' | 'prefix' | 'engine'>,
  jobId: string,
  onnxBytes?: Uint8Array,
): Promise<string> {
  const model = tinyMnistModel(harness.engine.tf, 3);
  try {
    const folder = await writeModelFolder(
      harness.store,
      harness.prefix,
      `${jobId}/round-1`,
      model,
      mnistMetadata({ jobId }),
    );
    await harness.store.write(`${folder}${MODEL_ONNX_FILE}`, onnxBytes ?? exportOnnx(model));
    await publishLatest(harness.store, harness.prefix, `${jobId}/round-1/`);
    return folder;
  } finally {
    model.dispose();
  }
}

const imageBody = { inputs: [{ name: 'image', shape: [1, 28, 28, 1], datatype: 'FP32', data: barImage() }] };

describe('the predictor on ONNX Runtime', () => {
  it('serves a published model.onnx on ONNX Runtime, with the answers TF.js gives', async () => {
    h = await startHarness(
      {},
      {
        publishFirst: false,
        before: async (store, _models, engine) =>
          void (await publishWithOnnx({ store, prefix: `${_models}mnist/`, engine }, 'job-onnx')),
      },
    );
    const meta = (await (await fetch(`${h.url}/v2/models/mnist`)).json()) as {
      platform: string;
      inputs: { name: string }[];
      outputs: { name: string }[];
    };
    expect(meta).toMatchObject({
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'image' }],
      outputs: [{ name: 'probabilities' }],
    });
    const onnxAnswer = (await (await h.post('/v2/models/mnist/infer', imageBody)).json()) as V2Answer;
    // The same weights on TF.js, in this process.
    const model = tinyMnistModel(h.engine.tf, 3);
    const expected = Array.from(
      (model.predict(h.engine.tf.tensor(barImage(), [1, 28, 28, 1])) as { dataSync(): Float32Array }).dataSync(),
    );
    model.dispose();
    expect(onnxAnswer.outputs[0]?.data).toHaveLength(10);
    onnxAnswer.outputs[0]?.data.forEach((p, k) => expect(Math.abs(p - (expected[k] ?? NaN))).toBeLessThan(1e-4));
    const v1 = (await (await h.post('/v1/models/mnist:predict', { instances: [barImage()] })).json()) as {
      predictions: number[][];
    };
    expect(v1.predictions[0]).toEqual(onnxAnswer.outputs[0]?.data);
  });

  it('falls back to TF.js for a model without model.onnx, and KASKADE_SERVING_ENGINE=tfjs forces TF.js', async () => {
    h = await startHarness();
    expect(((await (await fetch(`${h.url}/v2/models/mnist`)).json()) as { platform: string }).platform).toBe(
      'tensorflowjs_layers',
    );
    await h.close();
    h = await startHarness(
      { KASKADE_SERVING_ENGINE: 'tfjs' },
      {
        publishFirst: false,
        before: async (store, models, engine) =>
          void (await publishWithOnnx({ store, prefix: `${models}mnist/`, engine }, 'job-forced')),
      },
    );
    expect(((await (await fetch(`${h.url}/v2/models/mnist`)).json()) as { platform: string }).platform).toBe(
      'tensorflowjs_layers',
    );
  });

  it('refuses a corrupt model.onnx with a clear error and keeps serving the previous model', async () => {
    h = await startHarness(
      {},
      {
        publishFirst: false,
        before: async (store, models, engine) =>
          void (await publishWithOnnx({ store, prefix: `${models}mnist/`, engine }, 'job-good')),
      },
    );
    const before = (await (await h.post('/v2/models/mnist/infer', imageBody)).json()) as V2Answer;
    expect(before.model_version).toMatch(/^job-good-r\d+$/);
    const good = exportOnnx(tinyMnistModel(h.engine.tf, 3));
    await publishWithOnnx(h, 'job-corrupt', good.subarray(0, Math.floor(good.length / 2)));
    await expect(h.predictor.repository.load('mnist')).rejects.toThrow(
      /model\.onnx is not an ONNX model \(corrupt or truncated|could not be loaded by ONNX Runtime/,
    );
    const after = await h.post('/v2/models/mnist/infer', imageBody);
    expect(after.status).toBe(200);
    expect(((await after.json()) as V2Answer).model_version).toBe(before.model_version);
    const index = (await (await h.post('/v2/repository/index', {})).json()) as { name: string; state: string }[];
    expect(index).toEqual([expect.objectContaining({ name: 'mnist', state: 'READY' })]);
  });
});

describe("a user's own ONNX model", () => {
  const userModel = async (): Promise<Harness> =>
    startHarness(
      {},
      {
        publishFirst: false,
        before: async (store, models) => {
          await store.write(`${models}linear/v1/${MODEL_ONNX_FILE}`, linearClassifierOnnx());
          await publishLatest(store, `${models}linear/`, 'v1/');
        },
      },
    );

  it('is served over v2 with its own input and output names, datatypes and shapes', async () => {
    h = await userModel();
    const meta = (await (await fetch(`${h.url}/v2/models/linear`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'scores', datatype: 'FP32', shape: [-1, 3] },
        { name: 'doubled', datatype: 'FP32', shape: [-1, 4] },
      ],
    });
    const rows = [
      [1, 2, 3, 4],
      [0.5, -1, 0, 2],
    ];
    const res = await h.post('/v2/models/linear/infer', {
      id: 'u1',
      inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: rows.flat() }],
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as V2Answer & { id: string };
    expect(answer.id).toBe('u1');
    expect(answer.outputs.map((o) => [o.name, o.shape, o.datatype])).toEqual([
      ['scores', [2, 3], 'FP32'],
      ['doubled', [2, 4], 'FP32'],
    ]);
    rows.forEach((row, r) => {
      linearClassifierExpected(row).scores.forEach((s, c) =>
        expect(answer.outputs[0]?.data[r * 3 + c]).toBeCloseTo(s, 5),
      );
    });
    const only = (await (
      await h.post('/v2/models/linear/infer', {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 1, 1, 1] }],
        outputs: [{ name: 'doubled' }],
      })
    ).json()) as V2Answer;
    expect(only.outputs).toEqual([{ name: 'doubled', shape: [1, 4], datatype: 'FP32', data: [2, 2, 2, 2] }]);
    const v1 = (await (await h.post('/v1/models/linear:predict', { instances: [[1, 2, 3, 4]] })).json()) as {
      predictions: { scores: number[]; doubled: number[] }[];
    };
    expect(v1.predictions[0]?.doubled).toEqual([2, 4, 6, 8]);
  });

  it.each([
    {
      name: 'an unknown datatype',
      input: { name: 'features', shape: [1, 4], datatype: 'FP8', data: [1, 2, 3, 4] },
      error: /unknown datatype "FP8"/,
    },
    {
      name: 'the wrong datatype',
      input: { name: 'features', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] },
      error: /must be FP32, got INT64/,
    },
    {
      name: 'an input the model does not have',
      input: { name: 'image', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
      error: /unknown input "image": this model takes "features"/,
    },
    {
      name: 'a shape that does not match',
      input: { name: 'features', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] },
      error: /must have shape \[-1,4\]/,
    },
  ])('answers 400 for $name', async ({ input, error }) => {
    h = await userModel();
    const res = await h.post('/v2/models/linear/infer', { inputs: [input] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(error);
  });

  it('is read from a .onnx file URL; a changed file is a new version, a corrupt one is refused by name', async () => {
    const dir = await makeTempDir();
    try {
      const store = openStore({ roots: [dir.url] });
      const fileUrl = `${dir.url}/user/linear.onnx`;
      await store.write(fileUrl, linearClassifierOnnx());
      const config = loadConfig({ KASKADE_MODEL_URL: fileUrl, KASKADE_MODEL_NAME: 'linear' });
      expect(config.source).toEqual({ kind: 'file', fileUrl, name: 'linear' });
      const lines: string[] = [];
      const logger = createLogger(
        'predictor',
        new Writable({ write: (chunk: Buffer, _e, done) => done(void lines.push(chunk.toString())) }),
      );
      const loader = engineLoader({ tf: (await initEngine()).tf, store, serving: loadServingConfig({}), logger });
      const published = publishedModels(store, config.source, loader, 10_000);
      expect(await published.names()).toEqual(['linear']);
      const identity = await published.resolve('linear');
      expect(identity).toBe(await onnxFileIdentity(store, fileUrl));
      const served = await published.load(identity);
      expect(served.inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 4] }]);
      expect(lines.join('')).toContain(`serving engine: onnx for ${identity}`);
      served.dispose();
      await store.write(fileUrl, Uint8Array.of(1, 2, 3, 4, 5));
      const changed = await published.resolve('linear');
      expect(changed).not.toBe(identity);
      await expect(published.load(changed)).rejects.toThrow(`${fileUrl} is not an ONNX model`);
    } finally {
      await dir.remove();
    }
  });
});
