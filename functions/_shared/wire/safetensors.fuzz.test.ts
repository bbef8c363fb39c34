// Fuzzing the decoder: thousands of seeded random mutations and truncations of valid encodings.
// A decode may succeed or fail, but it only ever fails with the codec's typed errors, every
// tensor it returns is consistent with its shape, and the whole run stays within a time bound.
import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError, WireFormatError } from '../errors.js';
import {
  BYTES_PER_ELEMENT,
  DTYPES,
  decodeTensors,
  elementCount,
  encodeTensors,
  type WireTensor,
} from './safetensors.js';
import { seededRandom } from '../data/random.js';

type Rand = () => number;
const int = (rand: Rand, bound: number): number => Math.floor(rand() * bound);
const pick = <T>(rand: Rand, items: readonly T[]): T => items[int(rand, items.length)] as T;

function randomTensor(rand: Rand): WireTensor {
  const shape = Array.from({ length: int(rand, 4) }, () => int(rand, 4));
  const count = elementCount(shape) ?? 0;
  const bytes = Uint8Array.from({ length: count * 4 }, () => int(rand, 256));
  switch (pick(rand, DTYPES)) {
    case 'F32':
      return { dtype: 'F32', shape, data: new Float32Array(bytes.buffer, 0, count) };
    case 'F16':
      return { dtype: 'F16', shape, data: new Uint16Array(bytes.buffer, 0, count) };
    case 'I32':
      return { dtype: 'I32', shape, data: new Int32Array(bytes.buffer, 0, count) };
    case 'U8':
      return { dtype: 'U8', shape, data: bytes.subarray(0, count) };
    case 'BOOL':
      return { dtype: 'BOOL', shape, data: bytes.subarray(0, count).map((b) => b & 1) };
  }
}

function randomEncoding(rand: Rand): Uint8Array {
  const tensors: Record<string, WireTensor> = {};
  const n = int(rand, 5);
  for (let i = 0; i < n; i++) tensors[`t${i}`] = randomTensor(rand);
  return encodeTensors(tensors, rand() < 0.5 ? { step: String(int(rand, 100)) } : undefined);
}

const JSON_NOISE = [
  '-1',
  '1e400',
  '0.5',
  '"F64"',
  '[]',
  '{}',
  'null',
  '"__proto__"',
  '9007199254740993',
  ',',
  ']',
  '}',
  '"',
  '\\u0000',
  '18446744073709551616',
];

/** One random damage to a valid encoding: bytes, length prefix, header text, or truncation. */
function mutate(rand: Rand, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  if (out.length < 8) return out;
  const headerLength = Math.min(out.length - 8, Number(new DataView(out.buffer).getBigUint64(0, true)));
  switch (int(rand, 7)) {
    case 0: {
      const flips = 1 + int(rand, 8);
      for (let i = 0; i < flips && out.length > 0; i++) out[int(rand, out.length)] = int(rand, 256);
      return out;
    }
    case 1:
      return out.subarray(0, int(rand, out.length + 1));
    case 2: {
      const view = new DataView(out.buffer);
      const choices = [
        0n,
        1n,
        BigInt(Math.max(0, headerLength - 1)),
        BigInt(headerLength + 1),
        BigInt(out.length),
        2n ** 63n,
        BigInt(int(rand, 1 << 30)),
      ];
      view.setBigUint64(0, pick(rand, choices), true);
      return out;
    }
    case 3: {
      // Overwrite a span inside the JSON header with structural noise.
      if (headerLength === 0) return out;
      const at = 8 + int(rand, headerLength);
      const noise = new TextEncoder().encode(pick(rand, JSON_NOISE));
      out.set(noise.subarray(0, Math.max(0, 8 + headerLength - at)), at);
      return out;
    }
    case 4: {
      // Rewrite one number in the header (an offset or a dim) to a nearby or hostile value.
      const text = new TextDecoder().decode(out.subarray(8, 8 + headerLength));
      const numbers = [...text.matchAll(/\d+/g)];
      if (numbers.length === 0) return out;
      const target = pick(rand, numbers);
      const value = Number(target[0]);
      const replacement = String(pick(rand, [value + 1, Math.max(0, value - 1), value * 2, 0, 4294967296, value + 4]));
      const edited = text.slice(0, target.index) + replacement + text.slice(target.index + target[0].length);
      const json = new TextEncoder().encode(edited);
      const rebuilt = new Uint8Array(8 + json.length + out.length - 8 - headerLength);
      new DataView(rebuilt.buffer).setBigUint64(0, BigInt(json.length), true);
      rebuilt.set(json, 8);
      rebuilt.set(out.subarray(8 + headerLength), 8 + json.length);
      return rebuilt;
    }
    case 5: {
      // Insert or delete a few body bytes.
      const at = int(rand, out.length + 1);
      if (rand() < 0.5)
        return Uint8Array.from([
          ...out.subarray(0, at),
          ...Array.from({ length: 1 + int(rand, 8) }, () => int(rand, 256)),
          ...out.subarray(at),
        ]);
      return Uint8Array.from([...out.subarray(0, at), ...out.subarray(Math.min(out.length, at + 1 + int(rand, 8)))]);
    }
    default:
      return mutate(rand, mutate(rand, out));
  }
}

describe('decodeTensors under fuzzing', () => {
  it('never throws anything but typed errors, never returns an inconsistent tensor, never hangs', () => {
    const rand = seededRandom(0x5eed);
    const deadline = Date.now() + 20_000;
    const outcomes = { decoded: 0, wireFormat: 0, tooLarge: 0 };
    let runs = 0;
    for (; runs < 20_000 && Date.now() < deadline; runs++) {
      const input = mutate(rand, randomEncoding(rand));
      try {
        const { tensors } = decodeTensors(input, { maxBytes: pick(rand, [128, 512, 4096]) });
        for (const tensor of Object.values(tensors)) {
          expect(tensor.data.length).toBe(elementCount(tensor.shape));
          expect(tensor.data.byteLength).toBe(tensor.data.length * BYTES_PER_ELEMENT[tensor.dtype]);
        }
        outcomes.decoded++;
      } catch (e) {
        if (e instanceof PayloadTooLargeError) outcomes.tooLarge++;
        else if (e instanceof WireFormatError) outcomes.wireFormat++;
        else
          throw new Error(`run ${runs}: untyped error on input ${Buffer.from(input).toString('base64')}`, { cause: e });
      }
    }
    expect(runs).toBeGreaterThanOrEqual(5000);
    // Both branches were exercised: the mutations are not all fatal, nor all harmless.
    expect(outcomes.decoded).toBeGreaterThan(50);
    expect(outcomes.wireFormat).toBeGreaterThan(1000);
    expect(outcomes.tooLarge).toBeGreaterThan(50);
  });

  it('rejects every strict prefix of a valid encoding', () => {
    const rand = seededRandom(7);
    for (let k = 0; k < 20; k++) {
      const bytes = randomEncoding(rand);
      for (let cut = 0; cut < bytes.length; cut++)
        expect(() => decodeTensors(bytes.subarray(0, cut))).toThrow(WireFormatError);
    }
  });
});
