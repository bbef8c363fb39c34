import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, halfToNumber } from './float16.js';

describe('float16', () => {
  it('round-trips every one of the 65,536 half bit patterns through float32', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const widened = float16ToFloat32(all);
    const back = float32ToFloat16(widened);
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) expect(Number.isNaN(widened[h])).toBe(true);
      else if (back[h] !== h) expect.fail(`half 0x${h.toString(16)} came back as 0x${(back[h] ?? 0).toString(16)}`);
    }
  });

  const cases: { name: string; value: number; bits: number }[] = [
    { name: 'one', value: 1, bits: 0x3c00 },
    { name: 'minus two', value: -2, bits: 0xc000 },
    { name: 'negative zero', value: -0, bits: 0x8000 },
    { name: 'largest half', value: 65504, bits: 0x7bff },
    { name: 'just under the overflow tie', value: 65519, bits: 0x7bff },
    { name: 'overflow tie rounds to infinity', value: 65520, bits: 0x7c00 },
    { name: 'huge → infinity', value: 1e10, bits: 0x7c00 },
    { name: 'minus infinity', value: -Infinity, bits: 0xfc00 },
    { name: 'NaN stays NaN', value: NaN, bits: 0x7e00 },
    { name: 'tie 1 + 2^-11 rounds to even (down)', value: 1 + 2 ** -11, bits: 0x3c00 },
    { name: 'tie 1 + 3·2^-11 rounds to even (up)', value: 1 + 3 * 2 ** -11, bits: 0x3c02 },
    { name: 'smallest normal', value: 2 ** -14, bits: 0x0400 },
    { name: 'subnormal rounding up into the normals', value: 2 ** -14 - 2 ** -25, bits: 0x0400 },
    { name: 'smallest subnormal', value: 2 ** -24, bits: 0x0001 },
    { name: 'half the smallest subnormal ties to zero', value: 2 ** -25, bits: 0x0000 },
    { name: 'above half the smallest subnormal rounds up', value: 1.5 * 2 ** -25, bits: 0x0001 },
    { name: 'far below the subnormals', value: 1e-10, bits: 0x0000 },
  ];
  it.each(cases)('$name', ({ value, bits }) => {
    expect(float32ToFloat16(new Float32Array([value]))[0]).toBe(bits);
  });

  it('widens exactly', () => {
    expect(halfToNumber(0x3555)).toBe(0.333251953125);
    expect(halfToNumber(0x0001)).toBe(2 ** -24);
    expect(halfToNumber(0xfbff)).toBe(-65504);
  });
});
