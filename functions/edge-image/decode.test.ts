// Decoding what clients send: image bytes in several formats, base64 forms, and clear errors.
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import { decodeImage, imageBytesFromText } from './decode.js';

let png: Buffer;
let jpeg: Buffer;
let greyWebp: Buffer;
beforeAll(async () => {
  const red = { r: 255, g: 0, b: 0 };
  png = await sharp({ create: { width: 64, height: 48, channels: 4, background: { ...red, alpha: 1 } } })
    .png()
    .toBuffer();
  jpeg = await sharp({ create: { width: 20, height: 20, channels: 3, background: red } })
    .jpeg()
    .toBuffer();
  greyWebp = await sharp({ create: { width: 10, height: 10, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .webp({ lossless: true })
    .toBuffer();
});

describe('decodeImage', () => {
  it.each([
    { name: 'PNG with alpha', bytes: () => png, rgb: [1, 0, 0] },
    { name: 'JPEG', bytes: () => jpeg, rgb: [1, 0, 0] },
    { name: 'grey WebP', bytes: () => greyWebp, rgb: [128 / 255, 128 / 255, 128 / 255] },
  ])('$name → size × size × 3 in [0, 1]', async ({ bytes, rgb }) => {
    const pixels = await decodeImage(bytes(), 32);
    expect(pixels.length).toBe(32 * 32 * 3);
    expect(pixels[0]).toBeCloseTo(rgb[0]!, 1);
    expect(pixels[1]).toBeCloseTo(rgb[1]!, 1);
    expect(pixels[2]).toBeCloseTo(rgb[2]!, 1);
  });

  it.each([
    { name: 'empty bytes', bytes: Buffer.alloc(0), error: /empty image/ },
    { name: 'text', bytes: Buffer.from('hello, this is not an image'), error: /not a readable image/ },
    {
      name: 'random bytes',
      bytes: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) % 256)),
      error: /not a readable image/,
    },
  ])('refuses $name', async ({ bytes, error }) => {
    await expect(decodeImage(bytes, 32)).rejects.toThrow(BadInputError);
    await expect(decodeImage(bytes, 32)).rejects.toThrow(error);
  });

  it('refuses a truncated PNG', async () => {
    await expect(decodeImage(png.subarray(0, png.length - 20), 32)).rejects.toThrow(BadInputError);
  });
});

describe('imageBytesFromText', () => {
  it.each([
    { name: 'bare base64', text: () => png.toString('base64') },
    { name: 'base64 with line breaks', text: () => png.toString('base64').replace(/(.{60})/g, '$1\n') },
    { name: 'URL-safe base64', text: () => png.toString('base64url') },
    { name: 'a data URL', text: () => `data:image/png;base64,${png.toString('base64')}` },
    { name: 'JSON', text: () => JSON.stringify({ image: png.toString('base64') }) },
  ])('$name', ({ text }) => {
    expect(imageBytesFromText(text()).equals(png)).toBe(true);
  });

  it.each([
    { name: 'not base64', text: 'this is ** not base64', error: /not base64/ },
    { name: 'empty', text: '   ', error: /not base64/ },
    { name: 'JSON without image', text: '{"img": "abc"}', error: /\{"image": "<base64>"\}/ },
    { name: 'broken JSON', text: '{"image": ', error: /not valid JSON/ },
    { name: 'a data URL that is not base64', text: 'data:image/svg+xml,<svg/>', error: /must be base64/ },
  ])('refuses $name', ({ text, error }) => {
    expect(() => imageBytesFromText(text)).toThrow(error);
  });
});
