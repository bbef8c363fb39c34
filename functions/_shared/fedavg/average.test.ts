import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { federatedAverage, median, trimmedMean, type ClientUpdate, type WeightSet } from './average.js';

function f32(...values: number[]): Float32Array {
  return Float32Array.from(values);
}

function client(count: number, kernel: number[], bias: number[]): ClientUpdate {
  return {
    count,
    weights: { kernel: { shape: [2, 2], data: f32(...kernel) }, bias: { shape: [2], data: f32(...bias) } },
  };
}

function values(set: WeightSet, name: string): number[] {
  return Array.from(set[name]?.data ?? []);
}

describe('federatedAverage', () => {
  it.each([
    {
      name: 'equal counts = plain mean',
      clients: [client(10, [1, 2, 3, 4], [0, 1]), client(10, [3, 4, 5, 6], [2, 3])],
      kernel: [2, 3, 4, 5],
      bias: [1, 2],
    },
    {
      // (1·1 + 3·5) / 4 = 4, (1·2 + 3·6) / 4 = 5, ...
      name: 'weights by example count',
      clients: [client(100, [1, 2, 3, 4], [0, 0]), client(300, [5, 6, 7, 8], [4, -4])],
      kernel: [4, 5, 6, 7],
      bias: [3, -3],
    },
    {
      // (2·0 + 1·3 + 1·6) / 4 = 2.25; (2·1 + 1·1 + 1·-1) / 4 = 0.5
      name: 'three clients',
      clients: [client(2, [0, 0, 0, 0], [1, 1]), client(1, [3, 3, 3, 3], [1, 1]), client(1, [6, 6, 6, 6], [-1, -1])],
      kernel: [2.25, 2.25, 2.25, 2.25],
      bias: [0.5, 0.5],
    },
    {
      name: 'one client is returned unchanged',
      clients: [client(7, [0.1, 0.2, 0.3, 0.4], [5, 6])],
      kernel: [0.1, 0.2, 0.3, 0.4].map(Math.fround),
      bias: [5, 6],
    },
  ])('$name', ({ clients, kernel, bias }) => {
    const out = federatedAverage(clients);
    expect(values(out, 'kernel')).toEqual(kernel);
    expect(values(out, 'bias')).toEqual(bias);
    expect(out.kernel?.shape).toEqual([2, 2]);
    expect(out.kernel?.data).toBeInstanceOf(Float32Array);
  });

  it('accumulates in float64: 1e8 + many small values keep their share', () => {
    // In float32, 1e8 + 1 = 1e8, so a float32 running sum would lose the small clients.
    const big = { count: 1, weights: { w: { shape: [1], data: f32(1e8) } } };
    const small = Array.from({ length: 999 }, () => ({ count: 1, weights: { w: { shape: [1], data: f32(1) } } }));
    const out = federatedAverage([big, ...small]);
    expect(out.w?.data[0]).toBe(Math.fround((1e8 + 999) / 1000));
  });

  it('rounds int32 tensors', () => {
    const a = { count: 1, weights: { step: { shape: [], data: Int32Array.of(3) } } };
    const b = { count: 2, weights: { step: { shape: [], data: Int32Array.of(4) } } };
    const out = federatedAverage([a, b]);
    expect(out.step?.data).toEqual(Int32Array.of(4));
  });

  const bad: { name: string; clients: ClientUpdate[]; message: RegExp }[] = [
    { name: 'no clients', clients: [], message: /no client updates/ },
    { name: 'zero count', clients: [client(0, [1, 1, 1, 1], [1, 1])], message: /client 0: example count/ },
    {
      name: 'negative count',
      clients: [client(5, [1, 1, 1, 1], [1, 1]), client(-1, [1, 1, 1, 1], [1, 1])],
      message: /client 1: example count/,
    },
    { name: 'NaN count', clients: [client(Number.NaN, [1, 1, 1, 1], [1, 1])], message: /example count/ },
    {
      name: 'missing tensor',
      clients: [
        client(1, [1, 1, 1, 1], [1, 1]),
        { count: 1, weights: { kernel: { shape: [2, 2], data: f32(1, 1, 1, 1) } } },
      ],
      message: /client 1: tensor names differ .*missing: \[bias\]/,
    },
    {
      name: 'extra tensor',
      clients: [
        client(1, [1, 1, 1, 1], [1, 1]),
        { count: 1, weights: { ...client(1, [1, 1, 1, 1], [1, 1]).weights, extra: { shape: [1], data: f32(1) } } },
      ],
      message: /extra: \[extra\]/,
    },
    {
      name: 'shape mismatch',
      clients: [
        client(1, [1, 1, 1, 1], [1, 1]),
        { count: 1, weights: { kernel: { shape: [4], data: f32(1, 1, 1, 1) }, bias: { shape: [2], data: f32(1, 1) } } },
      ],
      message: /client 1: tensor "kernel" has shape \[4\], client 0 has \[2, 2\]/,
    },
    {
      name: 'data length differs from shape',
      clients: [{ count: 1, weights: { w: { shape: [3], data: f32(1, 2) } } }],
      message: /shape \[3\] but 2 values/,
    },
    {
      name: 'dtype mismatch',
      clients: [
        { count: 1, weights: { w: { shape: [1], data: f32(1) } } },
        { count: 1, weights: { w: { shape: [1], data: Int32Array.of(1) } } },
      ],
      message: /is int32, client 0 has float32/,
    },
    {
      name: 'non-finite weight',
      clients: [{ count: 1, weights: { w: { shape: [2], data: f32(1, Number.NaN) } } }],
      message: /non-finite/,
    },
  ];
  it.each(bad)('rejects $name', ({ clients, message }) => {
    expect(() => federatedAverage(clients)).toThrow(BadInputError);
    expect(() => federatedAverage(clients)).toThrow(message);
  });
});

function scalarClients(...vs: number[]): ClientUpdate[] {
  return vs.map((v, k) => ({ count: k + 1, weights: { w: { shape: [2], data: f32(v, -v) } } }));
}

describe('median', () => {
  it.each([
    { name: 'odd number of clients', vs: [5, 1, 100], out: [5, -5] },
    { name: 'even number of clients', vs: [4, 1, 2, 100], out: [3, -3] },
    { name: 'one client', vs: [7], out: [7, -7] },
  ])('$name (counts ignored)', ({ vs, out }) => {
    expect(values(median(scalarClients(...vs)), 'w')).toEqual(out);
  });
});

describe('trimmedMean', () => {
  it.each([
    // β = 0.2 of 5 clients → drop 1 each side: mean(2, 3, 4) = 3
    { name: 'drops the outliers', vs: [1000, 2, 3, 4, -1000], beta: 0.2, out: [3, -3] },
    // β = 0.2 of 4 clients → floor(0.8) = 0 dropped: plain mean
    { name: 'too few clients to trim', vs: [1, 2, 3, 6], beta: 0.2, out: [3, -3] },
    { name: 'beta 0 = unweighted mean', vs: [1, 2, 6], beta: 0, out: [3, -3] },
    // β = 0.4 of 5 → drop 2 each side: the median
    { name: 'heavy trim', vs: [9, 1, 5, 7, 3], beta: 0.4, out: [5, -5] },
  ])('$name', ({ vs, beta, out }) => {
    expect(values(trimmedMean(scalarClients(...vs), beta), 'w')).toEqual(out);
  });

  it.each([{ beta: 0.5 }, { beta: -0.1 }, { beta: Number.NaN }])('rejects β = $beta', ({ beta }) => {
    expect(() => trimmedMean(scalarClients(1, 2), beta)).toThrow(BadInputError);
  });
});
