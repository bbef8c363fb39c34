// Opening and running `.onnx` bytes: the model's own names, datatypes and shapes (dynamic
// dimensions as -1); bad files and bad requests get clear errors; one session serves
// concurrent requests; sessions on the engine thread leave the event loop free while they run.
import { describe, expect, it } from 'vitest';
import { TEST_ONNX_SETTINGS } from '../../../test/support/onnx-parity.js';
import { externalDataOnnx, linearClassifierExpected, linearClassifierOnnx } from '../../../test/support/onnx-models.js';
import { BadInputError, InferenceError, UnsupportedModelError } from '../errors.js';
import { openOnnxModel } from './onnx-model.js';
import type { HostTensor } from './types.js';

const rows = (values: number[][]): HostTensor => ({
  dtype: 'float32',
  shape: [values.length, values[0]?.length ?? 0],
  data: Float32Array.from(values.flat()),
});

describe('openOnnxModel', () => {
  it('takes names, datatypes and shapes from the model and answers every output', async () => {
    const model = await openOnnxModel(linearClassifierOnnx(), TEST_ONNX_SETTINGS, 'linear.onnx');
    expect(model.engine).toBe('onnx');
    expect(model.inputs).toEqual([{ name: 'features', dtype: 'float32', datatype: 'FP32', shape: [-1, 4] }]);
    expect(model.outputs).toEqual([
      { name: 'scores', dtype: 'float32', datatype: 'FP32', shape: [-1, 3] },
      { name: 'doubled', dtype: 'float32', datatype: 'FP32', shape: [-1, 4] },
    ]);
    const input = [
      [1, 2, 3, 4],
      [-1, 0.5, 0, 2],
    ];
    const out = await model.run({ features: rows(input) });
    expect(out.scores?.shape).toEqual([2, 3]);
    input.forEach((row, r) => {
      const expected = linearClassifierExpected(row);
      expected.scores.forEach((s, c) => expect(out.scores?.data[r * 3 + c]).toBeCloseTo(s, 5));
      expected.doubled.forEach((d, c) => expect(out.doubled?.data[r * 4 + c]).toBeCloseTo(d, 6));
    });
    await model.dispose();
  });

  it('serves concurrent requests from one session, each getting its own answer', async () => {
    const model = await openOnnxModel(linearClassifierOnnx(), TEST_ONNX_SETTINGS, 'linear.onnx');
    const inputs = Array.from({ length: 16 }, (_, k) => [k, -k, k / 2, 1]);
    const answers = await Promise.all(inputs.map((row) => model.run({ features: rows([row]) })));
    answers.forEach((out, k) => expect(out.doubled?.data[0]).toBe(2 * k));
    await model.dispose();
  });

  it.each([
    {
      name: 'random bytes',
      bytes: () => Uint8Array.from({ length: 300 }, (_, k) => (k * 151 + 7) % 256),
      error: BadInputError,
      message: /not an ONNX model|could not be loaded/,
    },
    { name: 'an empty file', bytes: () => new Uint8Array(), error: BadInputError, message: /not an ONNX model/ },
    {
      name: 'a truncated file',
      bytes: () => linearClassifierOnnx().subarray(0, 150),
      error: BadInputError,
      message: /not an ONNX model \(corrupt or truncated/,
    },
    {
      name: 'weights in a side file',
      bytes: externalDataOnnx,
      error: UnsupportedModelError,
      message: /keeps tensor "W" in an external file/,
    },
  ])('refuses $name with a clear error', async ({ bytes, error, message }) => {
    const opened = openOnnxModel(bytes(), TEST_ONNX_SETTINGS, 'user.onnx');
    await expect(opened).rejects.toThrow(error);
    await expect(openOnnxModel(bytes(), TEST_ONNX_SETTINGS, 'user.onnx')).rejects.toThrow(message);
  });

  it.each([
    { name: 'a missing input', feeds: {}, message: /input "features" is missing/ },
    {
      name: 'an unknown input',
      feeds: { features: rows([[1, 2, 3, 4]]), pixels: rows([[1]]) },
      message: /unknown input "pixels"; the model takes "features"/,
    },
    {
      name: 'a wrong datatype',
      feeds: { features: { dtype: 'int32', shape: [1, 4], data: Int32Array.of(1, 2, 3, 4) } },
      message: /must be FP32, got INT32/,
    },
    {
      name: 'a wrong width',
      feeds: { features: rows([[1, 2, 3]]) },
      message: /must have shape \[-1,4\] \(-1: any\), got \[1,3\]/,
    },
    {
      name: 'a wrong rank',
      feeds: { features: { dtype: 'float32', shape: [4], data: Float32Array.of(1, 2, 3, 4) } },
      message: /got \[4\]/,
    },
    {
      name: 'data that does not fill the shape',
      feeds: { features: { dtype: 'float32', shape: [2, 4], data: Float32Array.of(1, 2, 3, 4) } },
      message: /has 4 values for shape \[2,4\]/,
    },
  ] as const)('refuses $name as bad input', async ({ feeds, message }) => {
    const model = await openOnnxModel(linearClassifierOnnx(), TEST_ONNX_SETTINGS, 'linear.onnx');
    await expect(model.run(feeds as Record<string, HostTensor>)).rejects.toThrow(BadInputError);
    await expect(model.run(feeds as Record<string, HostTensor>)).rejects.toThrow(message);
    // The session still answers good requests afterwards.
    expect((await model.run({ features: rows([[0, 0, 0, 1]]) })).doubled?.data[3]).toBe(2);
    await model.dispose();
  });
});

describe.each([
  { mode: 'on the engine thread', ownThread: true },
  { mode: 'on the calling thread', ownThread: false },
])('a session $mode', ({ ownThread }) => {
  const settings = { ...TEST_ONNX_SETTINGS, ownThread };

  it('answers like the model, leaves the caller its arrays, and refuses runs once disposed', async () => {
    const model = await openOnnxModel(linearClassifierOnnx(), settings, 'linear.onnx');
    const feed = rows([[1, 2, 3, 4]]);
    const out = await model.run({ features: feed });
    expect(out.doubled?.data).toEqual(Float32Array.of(2, 4, 6, 8));
    // Copied to the thread, not moved: the caller's array is whole afterwards.
    expect(feed.data).toEqual(Float32Array.of(1, 2, 3, 4));
    await model.dispose();
    if (ownThread) await expect(model.run({ features: feed })).rejects.toThrow(InferenceError);
    else await expect(model.run({ features: feed })).rejects.toThrow();
  });

  it('takes a handed-over view into a larger buffer: the same answer, the buffer moved (on a thread) instead of copied', async () => {
    const model = await openOnnxModel(linearClassifierOnnx(), settings, 'linear.onnx');
    const body = new ArrayBuffer(8 + 16);
    const view = new Float32Array(body, 8, 4);
    view.set([1, 2, 3, 4]);
    const out = await model.run({ features: { dtype: 'float32', shape: [1, 4], data: view } }, { handOver: true });
    expect(out.doubled?.data).toEqual(Float32Array.of(2, 4, 6, 8));
    expect(body.byteLength).toBe(ownThread ? 0 : 24);
    await model.dispose();
  });

  it('keeps serving the other models when one is disposed, and opens models again after the last is gone', async () => {
    const feed = (): Record<string, HostTensor> => ({ features: rows([[1, 0, 0, 0]]) });
    const first = await openOnnxModel(linearClassifierOnnx(), settings, 'first.onnx');
    const second = await openOnnxModel(linearClassifierOnnx(), settings, 'second.onnx');
    await Promise.all([first.run(feed()), second.run(feed())]);
    await first.dispose();
    expect((await second.run(feed())).doubled?.data[0]).toBe(2);
    await expect(first.run(feed())).rejects.toThrow();
    await second.dispose();
    const third = await openOnnxModel(linearClassifierOnnx(), settings, 'third.onnx');
    expect((await third.run(feed())).doubled?.data[0]).toBe(2);
    await third.dispose();
  });

  it(`${ownThread ? 'lets' : 'does not let'} the event loop run while the model runs`, async () => {
    const model = await openOnnxModel(linearClassifierOnnx(), settings, 'linear.onnx');
    const order: string[] = [];
    const ran = model.run({ features: rows([[1, 2, 3, 4]]) }).then(() => order.push('run answered'));
    // Queued after the run started. On the calling thread the binding runs the session inside a
    // setImmediate queued before this one, so the answer comes first; on the engine thread the
    // answer is a message, read no sooner than the next turn of the loop.
    setImmediate(() => order.push('event loop turned'));
    await ran;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(ownThread ? ['event loop turned', 'run answered'] : ['run answered', 'event loop turned']);
    await model.dispose();
  });
});
