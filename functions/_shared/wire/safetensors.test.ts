import { describe, expect, it } from 'vitest';
import { BadInputError, PayloadTooLargeError, WireFormatError } from '../errors.js';
import { decodeTensors, encodeTensorParts, encodeTensors, type WireTensor } from './safetensors.js';

const enc = new TextEncoder();

/** Raw safetensors bytes from a header text and a body, with an optional lying length prefix. */
function raw(header: string, body: Uint8Array | number = 0, declared?: bigint): Uint8Array {
  const json = enc.encode(header);
  const data = typeof body === 'number' ? new Uint8Array(body) : body;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerText(bytes: Uint8Array): string {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + length));
}

describe('encodeTensors / decodeTensors round trip', () => {
  const cases: { name: string; tensor: WireTensor }[] = [
    {
      name: 'F32 matrix',
      tensor: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3e-38, Infinity, -0, 7]) },
    },
    { name: 'F32 scalar', tensor: { dtype: 'F32', shape: [], data: new Float32Array([Math.PI]) } },
    { name: 'F32 empty', tensor: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) } },
    {
      name: 'F16 vector (raw half bits)',
      tensor: { dtype: 'F16', shape: [4], data: new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001]) },
    },
    { name: 'F16 empty', tensor: { dtype: 'F16', shape: [3, 0], data: new Uint16Array(0) } },
    {
      name: 'I32 extremes',
      tensor: { dtype: 'I32', shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -1]) },
    },
    { name: 'I32 scalar', tensor: { dtype: 'I32', shape: [], data: new Int32Array([42]) } },
    {
      name: 'U8 image',
      tensor: { dtype: 'U8', shape: [2, 2, 3], data: Uint8Array.from({ length: 12 }, (_, i) => i * 21) },
    },
    { name: 'U8 empty', tensor: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } },
    { name: 'BOOL mask', tensor: { dtype: 'BOOL', shape: [5], data: new Uint8Array([1, 0, 0, 1, 1]) } },
    { name: 'BOOL scalar', tensor: { dtype: 'BOOL', shape: [], data: new Uint8Array([1]) } },
  ];

  it.each(cases)('$name', ({ tensor }) => {
    const bytes = encodeTensors({ t: tensor });
    const { tensors, metadata } = decodeTensors(bytes);
    expect(metadata).toBeUndefined();
    const back = tensors.t;
    expect(back?.dtype).toBe(tensor.dtype);
    expect(back?.shape).toEqual(tensor.shape);
    expect(back?.data).toEqual(tensor.data);
    expect(back?.data.constructor).toBe(tensor.data.constructor);
  });

  it('keeps many tensors of mixed dtypes, their names and the metadata', () => {
    const all = Object.fromEntries(cases.map((c) => [c.name, c.tensor]));
    const named = {
      ...all,
      '0': cases[0]!.tensor,
      '10': cases[7]!.tensor,
      constructor: cases[5]!.tensor,
      'ünï/ço:de': cases[9]!.tensor,
    };
    const bytes = encodeTensors(named, { format: 'pt', round: '3' });
    const { tensors, metadata } = decodeTensors(bytes);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(named).sort());
    for (const [name, tensor] of Object.entries(named)) expect(tensors[name]?.data).toEqual(tensor.data);
    expect({ ...metadata }).toEqual({ format: 'pt', round: '3' });
    expect(Object.getPrototypeOf(tensors)).toBeNull();
  });

  it('encodes an empty set', () => {
    const { tensors, metadata } = decodeTensors(encodeTensors({}));
    expect(Object.keys(tensors)).toEqual([]);
    expect(metadata).toBeUndefined();
  });

  it('pads the header with spaces so the data start 8-byte aligned, and writes 4 bytes per float', () => {
    for (let n = 0; n < 9; n++) {
      const bytes = encodeTensors({ ['x'.repeat(n + 1)]: { dtype: 'F32', shape: [n], data: new Float32Array(n) } });
      const text = headerText(bytes);
      expect((8 + enc.encode(text).length) % 8).toBe(0);
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
      expect(bytes.length - 8 - enc.encode(text).length).toBe(4 * n);
    }
  });

  it('lays out wider dtypes first so every tensor decodes as an aligned view', () => {
    const bytes = encodeTensors({
      a_bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      b_half: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
      c_float: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    });
    const header = JSON.parse(headerText(bytes)) as Record<string, { data_offsets: number[] }>;
    expect(header.c_float?.data_offsets).toEqual([0, 8]);
    expect(header.b_half?.data_offsets).toEqual([8, 10]);
    expect(header.a_bool?.data_offsets).toEqual([10, 13]);
    const { tensors } = decodeTensors(bytes);
    for (const t of Object.values(tensors)) expect(t.data.buffer).toBe(bytes.buffer);
  });

  it('returns views without copying when aligned, and copies only when the input is misaligned', () => {
    const bytes = encodeTensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) } });
    const aligned = decodeTensors(bytes).tensors.w;
    expect(aligned?.data.buffer).toBe(bytes.buffer);

    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const misalignedInput = shifted.subarray(1);
    const copied = decodeTensors(misalignedInput).tensors.w;
    expect(copied?.data).toEqual(new Float32Array([1, 2, 3]));
    expect(copied?.data.buffer).not.toBe(shifted.buffer);
  });

  it('as parts: the same bytes, the data parts views of the callers arrays (nothing joined)', () => {
    const w = new Float32Array([1, 2, 3]);
    const b = new Uint8Array([7, 8]);
    const tensors: Record<string, WireTensor> = {
      w: { dtype: 'F32', shape: [3], data: w },
      b: { dtype: 'U8', shape: [2], data: b },
    };
    const parts = encodeTensorParts(tensors, { step: '4' });
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    parts.reduce((at, p) => (joined.set(p, at), at + p.byteLength), 0);
    expect(joined).toEqual(encodeTensors(tensors, { step: '4' }));
    expect(parts).toHaveLength(3);
    expect(parts[1]?.buffer).toBe(w.buffer);
    expect(parts[2]?.buffer).toBe(b.buffer);
    expect(decodeTensors(joined).tensors.w?.data).toEqual(w);
  });

  it('decodes a header written in another order, without padding (other writers)', () => {
    const body = new Uint8Array(new Int32Array([1, 2, 3, 4]).buffer);
    const bytes = raw(
      '{"__metadata__":{"k":"v"},"b":{"shape":[2],"dtype":"I32","data_offsets":[8,16]},"a":{"data_offsets":[0,8],"dtype":"I32","shape":[2]}}',
      body,
    );
    const { tensors, metadata } = decodeTensors(bytes);
    expect(tensors.a?.data).toEqual(new Int32Array([1, 2]));
    expect(tensors.b?.data).toEqual(new Int32Array([3, 4]));
    expect(metadata?.k).toBe('v');
  });
});

describe('encodeTensors rejects what it cannot encode', () => {
  const cases: { name: string; tensors: Record<string, WireTensor>; metadata?: Record<string, string> }[] = [
    { name: 'shape/data mismatch', tensors: { t: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } } },
    { name: 'negative dim', tensors: { t: { dtype: 'F32', shape: [-1], data: new Float32Array(0) } } },
    {
      name: 'wrong array type',
      tensors: { t: { dtype: 'F32', shape: [2], data: new Int32Array(2) } as unknown as WireTensor },
    },
    { name: 'reserved name', tensors: { __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } } },
    { name: 'empty name', tensors: { '': { dtype: 'U8', shape: [1], data: new Uint8Array(1) } } },
    { name: 'non-string metadata', tensors: {}, metadata: { n: 1 } as unknown as Record<string, string> },
  ];
  it.each(cases)('$name', ({ tensors, metadata }) => {
    expect(() => encodeTensors(tensors, metadata)).toThrow(BadInputError);
  });
});

describe('decodeTensors rejects malformed input with a typed error', () => {
  const f32 = (offsets: string, shape = '[2]') => `{"t":{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}}`;
  const cases: {
    name: string;
    bytes: Uint8Array;
    error: typeof WireFormatError | typeof PayloadTooLargeError;
    message: RegExp;
    maxBytes?: number;
  }[] = [
    { name: 'empty input', bytes: new Uint8Array(0), error: WireFormatError, message: /shorter than/ },
    { name: 'seven bytes', bytes: new Uint8Array(7), error: WireFormatError, message: /shorter than/ },
    { name: 'header length past the end', bytes: raw('{}', 0, 50n), error: WireFormatError, message: /header length/ },
    {
      name: 'header length 2^64-1',
      bytes: raw('{}', 0, 2n ** 64n - 1n),
      error: WireFormatError,
      message: /header length/,
    },
    { name: 'header length zero', bytes: raw('', 0), error: WireFormatError, message: /does not start/ },
    { name: 'header not an object', bytes: raw('[1,2]'), error: WireFormatError, message: /does not start/ },
    {
      name: 'header truncated JSON',
      bytes: raw('{"t":{"dtype":"F32"'),
      error: WireFormatError,
      message: /not valid JSON/,
    },
    {
      name: 'header invalid UTF-8',
      bytes: raw('{"\u00ff":1}').map((b, i) => (i === 10 ? 0xff : b)),
      error: WireFormatError,
      message: /UTF-8/,
    },
    {
      name: '__proto__ tensor name',
      bytes: raw('{"__proto__":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
      error: WireFormatError,
      message: /__proto__/,
    },
    {
      name: '__proto__ inside a tensor entry',
      bytes: raw('{"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"__proto__":{"x":1}}}'),
      error: WireFormatError,
      message: /__proto__/,
    },
    {
      name: '__proto__ in metadata',
      bytes: raw('{"__metadata__":{"__proto__":"x"}}'),
      error: WireFormatError,
      message: /__proto__/,
    },
    {
      name: 'empty tensor name',
      bytes: raw('{"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
      error: WireFormatError,
      message: /empty tensor name/,
    },
    { name: 'entry not an object', bytes: raw('{"t":[1]}'), error: WireFormatError, message: /not an object/ },
    {
      name: 'unknown field',
      bytes: raw('{"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"extra":1}}'),
      error: WireFormatError,
      message: /unknown field/,
    },
    {
      name: 'unknown dtype F64',
      bytes: raw('{"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', 8),
      error: WireFormatError,
      message: /unknown dtype/,
    },
    {
      name: 'lower-case dtype',
      bytes: raw('{"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', 4),
      error: WireFormatError,
      message: /unknown dtype/,
    },
    {
      name: 'missing dtype',
      bytes: raw('{"t":{"shape":[1],"data_offsets":[0,4]}}', 4),
      error: WireFormatError,
      message: /unknown dtype/,
    },
    {
      name: 'shape not a list',
      bytes: raw(f32('[0,8]', '2'), 8),
      error: WireFormatError,
      message: /shape is not a list/,
    },
    {
      name: 'negative dim',
      bytes: raw(f32('[0,8]', '[-2]'), 8),
      error: WireFormatError,
      message: /non-negative integers/,
    },
    {
      name: 'fractional dim',
      bytes: raw(f32('[0,8]', '[1.5]'), 8),
      error: WireFormatError,
      message: /non-negative integers/,
    },
    {
      name: 'dim beyond 2^53',
      bytes: raw(f32('[0,8]', '[9007199254740993]'), 8),
      error: WireFormatError,
      message: /non-negative integers/,
    },
    {
      name: 'dims whose product overflows',
      bytes: raw(f32('[0,8]', '[4294967296,4294967296]'), 8),
      error: WireFormatError,
      message: /non-negative integers/,
    },
    {
      name: 'dim as string',
      bytes: raw(f32('[0,8]', '["2"]'), 8),
      error: WireFormatError,
      message: /non-negative integers/,
    },
    {
      name: 'shape × size ≠ span',
      bytes: raw(f32('[0,8]', '[3]'), 8),
      error: WireFormatError,
      message: /needs 12 bytes/,
    },
    {
      name: 'offsets with three entries',
      bytes: raw(f32('[0,4,8]'), 8),
      error: WireFormatError,
      message: /data_offsets/,
    },
    { name: 'offsets not integers', bytes: raw(f32('[0,8.5]'), 8), error: WireFormatError, message: /outside/ },
    { name: 'offsets as strings', bytes: raw(f32('["0","8"]'), 8), error: WireFormatError, message: /outside/ },
    { name: 'begin after end', bytes: raw(f32('[8,0]'), 8), error: WireFormatError, message: /outside/ },
    { name: 'end past the body', bytes: raw(f32('[0,8]'), 4), error: WireFormatError, message: /outside/ },
    { name: 'negative begin', bytes: raw(f32('[-8,0]', '[2]'), 8), error: WireFormatError, message: /outside/ },
    {
      name: 'overlapping tensors',
      bytes: raw(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
        6,
      ),
      error: WireFormatError,
      message: /overlaps/,
    },
    {
      name: 'two tensors on the same bytes',
      bytes: raw(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}',
        4,
      ),
      error: WireFormatError,
      message: /overlaps/,
    },
    {
      name: 'gap between tensors',
      bytes: raw(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}',
        6,
      ),
      error: WireFormatError,
      message: /gap of 2 bytes/,
    },
    {
      name: 'gap at the start',
      bytes: raw('{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', 4),
      error: WireFormatError,
      message: /gap/,
    },
    { name: 'trailing bytes', bytes: raw(f32('[0,8]'), 12), error: WireFormatError, message: /after the last tensor/ },
    { name: 'body without tensors', bytes: raw('{}', 3), error: WireFormatError, message: /after the last tensor/ },
    {
      name: 'metadata not an object',
      bytes: raw('{"__metadata__":"x"}'),
      error: WireFormatError,
      message: /__metadata__ is not an object/,
    },
    {
      name: 'metadata value not a string',
      bytes: raw('{"__metadata__":{"a":1}}'),
      error: WireFormatError,
      message: /not a string/,
    },
    {
      name: 'over the size limit',
      bytes: raw(f32('[0,8]'), 8),
      error: PayloadTooLargeError,
      message: /exceeds the limit of 16/,
      maxBytes: 16,
    },
  ];

  it.each(cases)('$name', ({ bytes, error, message, maxBytes }) => {
    const run = () => decodeTensors(bytes, maxBytes === undefined ? {} : { maxBytes });
    expect(run).toThrow(error);
    expect(run).toThrow(message);
  });

  it('leaves Object.prototype untouched', () => {
    expect(() => decodeTensors(raw('{"__proto__":{"polluted":"yes"}}'))).toThrow(WireFormatError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts a null __metadata__ as absent (as the reference reader does)', () => {
    expect(decodeTensors(raw('{"__metadata__":null}')).metadata).toBeUndefined();
  });
});
