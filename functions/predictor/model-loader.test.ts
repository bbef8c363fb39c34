import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, type Engine } from '../_shared/engine/index.js';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { VOCABULARY_FILE, encodeVocabulary } from '../_shared/models/metadata.js';
import { openStore, type Store } from '../_shared/store/index.js';
import { predictV1 } from './infer-v1.js';
import { inferV2 } from './infer-v2.js';
import { loadServedModel, readPublished, resolvePointer, type TfjsServedModel } from './model-loader.js';
import { predictProbabilities, type Predict } from './run-model.js';
import { reviewTextEncoder } from './text-encoder.js';
import {
  barImage,
  mnistMetadata,
  publishModel,
  tinyMnistModel,
  tinyTokenModel,
  tokenMetadata,
  writeModelFolder,
} from '../../test/support/models.js';

let engine: Engine;
let dir: string;
let store: Store;
let prefix: string;

beforeAll(async () => {
  engine = await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'predictor-loader-'));
  store = openStore({ roots: [pathToFileURL(dir).href] });
  prefix = `${pathToFileURL(dir).href}/models/mnist/`;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolvePointer', () => {
  it.each([
    { name: 'absolute URL gains a slash', text: 'file:///m/job-1/round-3', expected: 'file:///m/job-1/round-3/' },
    { name: 'absolute gs URL kept', text: 'gs://b/m/job-1/round-3/\n', expected: 'gs://b/m/job-1/round-3/' },
    { name: 'relative to the prefix', text: 'job-1/round-3', expected: 'file:///data/models/mnist/job-1/round-3/' },
    { name: 'whitespace trimmed', text: '  job-2/round-1/ \n', expected: 'file:///data/models/mnist/job-2/round-1/' },
  ])('$name', ({ text, expected }) => {
    expect(resolvePointer(text, 'file:///data/models/mnist/')).toBe(expected);
  });

  it.each([
    { name: 'empty', text: ' \n', error: 'is empty' },
    { name: 'climbing out of the prefix', text: '../other/round-1', error: 'leaves its folder' },
  ])('refuses a pointer that is $name', ({ text, error }) => {
    expect(() => resolvePointer(text, 'file:///data/models/mnist/')).toThrow(BadInputError);
    expect(() => resolvePointer(text, 'file:///data/models/mnist/')).toThrow(error);
  });
});

describe('loadServedModel', () => {
  it('reads the pointer, loads, describes and frees a published model', async () => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    const folder = await publishModel(store, prefix, 'job-a/round-3', model, mnistMetadata());
    model.dispose();
    const before = tf.memory().numTensors;
    expect(await readPublished(store, prefix)).toBe(folder);
    const served = await loadServedModel(tf, store, folder);
    expect(served.version).toBe('job-a-r3');
    expect(served.inputs).toEqual([{ name: 'image', datatype: 'FP32', shape: [-1, 28, 28, 1] }]);
    expect(served.outputs).toEqual([{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }]);
    expect(served.metadata.testAccuracy).toBeCloseTo(0.9731);
    served.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('answers NotFoundError while nothing is published', async () => {
    await expect(readPublished(store, `${prefix}nothing/`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('falls back to userDefinedMetadata.kaskade in model.json', async () => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    model.setUserDefinedMetadata({ kaskade: mnistMetadata({ jobId: 'embedded', round: 1 }) });
    const folder = `${prefix}embedded/`;
    await model.save(store.modelHandler(folder));
    model.dispose();
    const served = await loadServedModel(tf, store, folder);
    expect(served.version).toBe('embedded-r1');
    served.dispose();
  });

  it.each([
    {
      name: 'labels do not match the output units',
      metadata: mnistMetadata({ labels: ['a', 'b', 'c'] }),
      error: 'has 10 output units but 3 labels',
    },
    {
      name: 'input shape differs from the metadata',
      metadata: mnistMetadata({ input: { kind: 'image', height: 32, width: 32, channels: 1, framing: 'digit' } }),
      error: 'takes [n,28,28,1] but kaskade.json says [n,32,32,1]',
    },
    {
      name: 'token metadata on an image model',
      metadata: tokenMetadata(),
      error: 'takes [n,28,28,1] but kaskade.json says [n,12]',
    },
  ])('refuses a model whose $name, leaking nothing', async ({ metadata, error }) => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    const folder = await writeModelFolder(
      store,
      prefix,
      `bad-${metadata.labels.length}-${metadata.input.kind}`,
      model,
      metadata,
    );
    model.dispose();
    const before = tf.memory().numTensors;
    await expect(loadServedModel(tf, store, folder)).rejects.toThrow(error);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a folder without metadata', async () => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    const folder = `${prefix}bare/`;
    await model.save(store.modelHandler(folder));
    model.dispose();
    const before = tf.memory().numTensors;
    await expect(loadServedModel(tf, store, folder)).rejects.toThrow('has no kaskade.json');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('inference on a loaded model', () => {
  const unbatched =
    (served: TfjsServedModel): Predict =>
    (batch) =>
      predictProbabilities(engine.tf, served.model, batch);

  it('answers v2 probabilities per instance, and v1 the same numbers', async () => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    const folder = await writeModelFolder(store, prefix, 'infer', model, mnistMetadata());
    model.dispose();
    const served = await loadServedModel(tf, store, folder);
    const image = barImage();
    const v2 = await inferV2(
      served,
      'mnist',
      {
        id: 'r1',
        inputs: [
          { name: 'image', shape: [2, 784], datatype: 'FP32', data: [...image, ...new Array<number>(784).fill(0)] },
        ],
      },
      8,
      unbatched(served),
    );
    expect(v2.model_name).toBe('mnist');
    expect(v2.model_version).toBe('job-a-r3');
    expect(v2.id).toBe('r1');
    const [out] = v2.outputs;
    expect(out?.shape).toEqual([2, 10]);
    expect(out?.datatype).toBe('FP32');
    const rows = [out?.data.slice(0, 10) ?? [], out?.data.slice(10) ?? []];
    for (const row of rows) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const nested = Array.from({ length: 28 }, (_, y) => image.slice(y * 28, (y + 1) * 28));
    const v1 = await predictV1(
      served,
      { instances: [nested, { image: new Array<number>(784).fill(0) }] },
      8,
      unbatched(served),
    );
    expect(v1.predictions).toHaveLength(2);
    v1.predictions.forEach((p, i) => p.forEach((v, j) => expect(v).toBeCloseTo(rows[i]?.[j] ?? NaN, 6)));
    served.dispose();
  });

  it('turns one sigmoid unit into [1 − p, p] over two labels, for token ids and text', async () => {
    const { tf } = engine;
    const model = tinyTokenModel(tf);
    const folder = await writeModelFolder(store, prefix, 'tokens', model, tokenMetadata());
    const ids = [1, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9];
    const direct = tf.tidy(() => {
      const y = model.predict(tf.tensor2d([ids], [1, 12], 'int32'));
      if (Array.isArray(y)) throw new Error('one output expected');
      return y.dataSync()[0] ?? NaN;
    });
    model.dispose();
    const served = await loadServedModel(tf, store, folder);
    const v2 = await inferV2(
      served,
      'imdb',
      { inputs: [{ name: 'tokens', shape: [1, 12], datatype: 'INT32', data: ids }] },
      8,
      unbatched(served),
    );
    expect(v2.outputs[0]?.shape).toEqual([1, 2]);
    expect(v2.outputs[0]?.data[1]).toBeCloseTo(direct, 5);
    expect(v2.outputs[0]?.data[0]).toBeCloseTo(1 - direct, 5);
    const v1 = await predictV1(served, { instances: [ids] }, 8, unbatched(served));
    expect(v1.predictions[0]?.[1]).toBeCloseTo(direct, 5);
    served.dispose();
  });

  it('encodes text with the published vocabulary exactly as token ids would be sent', async () => {
    const { tf } = engine;
    const model = tinyTokenModel(tf);
    const base = tokenMetadata();
    const metadata =
      base.input.kind === 'tokens' ? { ...base, input: { ...base.input, vocabularyFile: VOCABULARY_FILE } } : base;
    const folder = await writeModelFolder(store, prefix, 'text', model, metadata);
    model.dispose();
    await store.write(`${folder}${VOCABULARY_FILE}`, encodeVocabulary(['good', 'bad', 'movie']));
    const served = await loadServedModel(tf, store, folder, { textEncoder: reviewTextEncoder });
    expect(served.inputs.map((i) => i.name)).toEqual(['tokens', 'text']);
    const ids = [...new Array<number>(8).fill(0), 1, 3, 5, 2]; // <start> good movie <oov>
    const fromIds = await inferV2(
      served,
      'imdb',
      { inputs: [{ name: 'tokens', shape: [1, 12], datatype: 'INT32', data: ids }] },
      8,
      unbatched(served),
    );
    const fromText = await inferV2(
      served,
      'imdb',
      { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['Good MOVIE, great!'] }] },
      8,
      unbatched(served),
    );
    expect(fromText.outputs[0]?.data).toEqual(fromIds.outputs[0]?.data);
    const v1 = await predictV1(served, { instances: ['Good MOVIE, great!'] }, 8, unbatched(served));
    expect(v1.predictions[0]).toEqual(fromIds.outputs[0]?.data);
    served.dispose();
  });

  it('leaks no tensor over valid and rejected requests', async () => {
    const { tf } = engine;
    const model = tinyMnistModel(tf);
    const folder = await writeModelFolder(store, prefix, 'leaks', model, mnistMetadata());
    model.dispose();
    const served = await loadServedModel(tf, store, folder);
    const before = tf.memory().numTensors;
    const bodies: unknown[] = [
      { inputs: [{ name: 'image', shape: [1, 784], datatype: 'FP32', data: barImage() }] },
      { inputs: [{ name: 'image', shape: [1, 784], datatype: 'FP32', data: [NaN] }] },
      { inputs: [{ name: 'image', shape: [1, 700], datatype: 'FP32', data: new Array<number>(700).fill(0) }] },
      { inputs: [{ name: 'image', shape: [9, 784], datatype: 'FP32', data: new Array<number>(9 * 784).fill(0) }] },
      'not an object',
    ];
    for (const body of bodies) await inferV2(served, 'mnist', body, 8, unbatched(served)).catch(() => undefined);
    await predictV1(served, { instances: [[1, 2, 3]] }, 8, unbatched(served)).catch(() => undefined);
    await predictV1(served, { instances: [barImage()] }, 8, unbatched(served));
    expect(tf.memory().numTensors).toBe(before);
    served.dispose();
  });
});
