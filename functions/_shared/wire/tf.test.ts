import { beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { initEngine, type Engine } from '../engine/index.js';
import { decodeTensors, encodeTensors } from './safetensors.js';
import { encodeTfTensors, toTfTensors } from './tf.js';

let tf: Engine['tf'];
beforeAll(async () => {
  ({ tf } = await initEngine());
});

describe('TF.js tensors on the wire', () => {
  it('round-trips float32, int32 and bool tensors (values, shapes, dtypes) without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const sent = {
      weights: tf.tensor2d([
        [1.5, -2],
        [3, 4e-20],
      ]),
      labels: tf.tensor1d([3, 1, 4], 'int32'),
      mask: tf.tensor([true, false, true], [3], 'bool'),
      scalar: tf.scalar(7),
      empty: tf.zeros([0, 3]),
    };
    const bytes = await encodeTfTensors(sent, { source: 'test' });
    const decoded = decodeTensors(bytes);
    expect(decoded.metadata?.source).toBe('test');
    expect(decoded.tensors.weights?.dtype).toBe('F32');
    expect(decoded.tensors.labels?.dtype).toBe('I32');
    expect(decoded.tensors.mask?.dtype).toBe('BOOL');
    const received = toTfTensors(decoded);
    for (const [name, tensor] of Object.entries(sent)) {
      const back = received[name];
      expect(back?.dtype).toBe(tensor.dtype);
      expect(back?.shape).toEqual(tensor.shape);
      expect(await back?.data()).toEqual(await tensor.data());
    }
    for (const t of [...Object.values(sent), ...Object.values(received)]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('widens F16 to float32 and U8 to int32', async () => {
    const bytes = encodeTensors({
      half: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc100, 0x3555]) },
      pixels: { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
    });
    const { half, pixels } = toTfTensors(decodeTensors(bytes));
    expect(half?.dtype).toBe('float32');
    expect(Array.from(await half!.data())).toEqual([1, -2.5, 0.333251953125]);
    expect(pixels?.dtype).toBe('int32');
    expect(Array.from(await pixels!.data())).toEqual([0, 255]);
    half?.dispose();
    pixels?.dispose();
  });

  it('refuses dtypes the wire does not carry', async () => {
    const words = tf.tensor(['a', 'b'], [2], 'string');
    await expect(encodeTfTensors({ words })).rejects.toThrow(BadInputError);
    words.dispose();
  });
});
