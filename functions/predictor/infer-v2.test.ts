import { describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import { parseV2Request } from './infer-v2.js';
import { prepareTensor, type ServedInput } from './tensor-input.js';

const image: ServedInput = { input: { kind: 'image', height: 28, width: 28, channels: 1, framing: 'digit' } };
const tokens: ServedInput = {
  input: { kind: 'tokens', sequenceLength: 4, vocabularySize: 10, padIndex: 0, oovIndex: 2 },
};
const text: ServedInput = { ...tokens, encodeText: (texts) => new Int32Array(texts.length * 4).fill(3) };

const zeros = (n: number): number[] => new Array<number>(n).fill(0);
const tensor = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'image',
  shape: [1, 28, 28, 1],
  datatype: 'FP32',
  data: zeros(784),
  ...over,
});
const body = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ inputs: [tensor(over)] });

interface Case {
  name: string;
  served?: ServedInput;
  body: unknown;
  /** Substring of the 400 message, or the expected batch shape. */
  error?: string;
  shape?: number[];
  maxBatch?: number;
}

const cases: Case[] = [
  { name: 'accepts [n,28,28,1] FP32', body: body(), shape: [1, 28, 28, 1] },
  {
    name: 'accepts [n,28,28] when channels is 1',
    body: body({ shape: [2, 28, 28], data: zeros(2 * 784) }),
    shape: [2, 28, 28, 1],
  },
  { name: 'accepts flat [n,784]', body: body({ shape: [3, 784], data: zeros(3 * 784) }), shape: [3, 28, 28, 1] },
  {
    name: 'accepts nested row-major data',
    body: body({ data: [Array.from({ length: 28 }, () => zeros(28))] }),
    shape: [1, 28, 28, 1],
  },
  {
    name: 'accepts UINT8 pixels 0..255',
    body: body({ datatype: 'UINT8', data: new Array<number>(784).fill(255) }),
    shape: [1, 28, 28, 1],
  },
  { name: 'accepts FP64 as floats', body: body({ datatype: 'FP64' }), shape: [1, 28, 28, 1] },
  { name: 'body not an object', body: [1, 2], error: 'must be a JSON object' },
  { name: 'no inputs', body: {}, error: '"inputs" must be an array' },
  { name: 'two inputs', body: { inputs: [tensor(), tensor()] }, error: 'exactly one input tensor, got 2' },
  { name: 'id not a string', body: { ...body(), id: 7 }, error: '"id" must be a string' },
  { name: 'parameters not an object', body: { ...body(), parameters: [] }, error: '"parameters" must be an object' },
  { name: 'missing shape', body: body({ shape: undefined }), error: 'inputs[0].shape must be an array' },
  { name: 'data not an array', body: body({ data: 'abc' }), error: 'inputs[0].data must be an array' },
  { name: 'unknown input name', body: body({ name: 'pixels' }), error: 'unknown input "pixels"' },
  { name: 'unknown datatype', body: body({ datatype: 'FLOAT' }), error: 'unknown datatype "FLOAT"' },
  {
    name: 'wrong datatype for images',
    body: body({ datatype: 'INT32' }),
    error: 'datatype INT32 is not accepted, use FP16 or FP32 or FP64 or UINT8',
  },
  { name: 'BYTES for images', body: body({ datatype: 'BYTES' }), error: 'datatype BYTES is not accepted' },
  {
    name: 'wrong shape',
    body: body({ shape: [1, 32, 32, 1], data: zeros(1024) }),
    error: 'wrong shape [1,32,32,1], expected [n,28,28,1]',
  },
  {
    name: 'three channels',
    body: body({ shape: [1, 28, 28, 3], data: zeros(784 * 3) }),
    error: 'wrong shape [1,28,28,3]',
  },
  { name: 'zero batch', body: body({ shape: [0, 28, 28, 1], data: [] }), error: 'shape[0] is 0' },
  { name: 'fractional dimension', body: body({ shape: [1.5, 28, 28, 1] }), error: 'shape[0] is 1.5' },
  { name: 'empty shape', body: body({ shape: [] }), error: 'shape is empty' },
  {
    name: 'data shorter than shape',
    body: body({ data: zeros(700) }),
    error: 'data has 700 elements but shape [1,28,28,1] needs 784',
  },
  { name: 'data longer than shape', body: body({ data: zeros(785) }), error: 'data has 785 elements' },
  {
    name: 'NaN written as a string',
    body: body({ data: ['NaN', ...zeros(783)] }),
    error: 'data[0] is the string "NaN", not a finite number',
  },
  {
    name: 'null value',
    body: body({ data: [...zeros(5), null, ...zeros(778)] }),
    error: 'data[5] is null, not a finite number',
  },
  {
    name: 'overflowing float32',
    body: body({ data: [1e39, ...zeros(783)] }),
    error: 'data[0] is 1e+39, not a finite number',
  },
  {
    name: 'UINT8 out of range',
    body: body({ datatype: 'UINT8', data: [256, ...zeros(783)] }),
    error: 'UINT8 takes integers 0..255',
  },
  {
    name: 'too many instances',
    body: body({ shape: [3, 784], data: zeros(3 * 784) }),
    maxBatch: 2,
    error: 'too many instances: 3 in one request, at most 2',
  },
  {
    name: 'unknown output requested',
    body: { ...body(), outputs: [{ name: 'logits' }] },
    error: 'unknown output "logits"',
  },
  {
    name: 'tokens: accepts INT32 ids',
    served: tokens,
    body: { inputs: [{ name: 'tokens', shape: [2, 4], datatype: 'INT32', data: [1, 2, 3, 4, 5, 6, 7, 9] }] },
    shape: [2, 4],
  },
  {
    name: 'tokens: wrong length',
    served: tokens,
    body: { inputs: [{ name: 'tokens', shape: [1, 5], datatype: 'INT32', data: zeros(5) }] },
    error: 'expected [n,4]',
  },
  {
    name: 'tokens: id outside the vocabulary',
    served: tokens,
    body: { inputs: [{ name: 'tokens', shape: [1, 4], datatype: 'INT32', data: [1, 2, 10, 0] }] },
    error: 'data[2] is 10, token ids are integers 0..9',
  },
  {
    name: 'tokens: fractional id',
    served: tokens,
    body: { inputs: [{ name: 'tokens', shape: [1, 4], datatype: 'INT64', data: [1, 2.5, 1, 0] }] },
    error: 'data[1] is 2.5',
  },
  {
    name: 'tokens: floats refused',
    served: tokens,
    body: { inputs: [{ name: 'tokens', shape: [1, 4], datatype: 'FP32', data: zeros(4) }] },
    error: 'datatype FP32 is not accepted',
  },
  {
    name: 'tokens: no text without a vocabulary',
    served: tokens,
    body: { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['good'] }] },
    error: 'unknown input "text"',
  },
  {
    name: 'text: accepts BYTES strings',
    served: text,
    body: { inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['good', 'bad'] }] },
    shape: [2, 4],
  },
  {
    name: 'text: a number is not text',
    served: text,
    body: { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: [5] }] },
    error: 'data[0] is 5, not a string',
  },
];

describe('v2 request parsing and validation', () => {
  it.each(cases)('$name', ({ served = image, body: raw, error, shape, maxBatch = 8 }) => {
    const run = () => {
      const request = parseV2Request(raw);
      const [input] = request.inputs;
      if (!input) throw new Error('no input parsed');
      return prepareTensor(input, served, maxBatch);
    };
    if (error !== undefined) {
      expect(run).toThrow(BadInputError);
      expect(run).toThrow(error);
    } else {
      const batch = run();
      expect(batch.shape).toEqual(shape);
      expect(batch.values.length).toBe((shape ?? []).reduce((a, b) => a * b, 1));
    }
  });

  it('scales UINT8 pixels to [0, 1]', () => {
    const batch = prepareTensor(
      { name: 'image', shape: [1, 784], datatype: 'UINT8', data: [255, 51, ...zeros(782)] },
      image,
      1,
    );
    expect(batch.values[0]).toBeCloseTo(1);
    expect(batch.values[1]).toBeCloseTo(0.2);
  });
});
