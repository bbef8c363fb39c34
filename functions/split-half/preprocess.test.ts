// Preprocessing as the seed and torchvision do it: the shorter side resized to 256, the centre
// 224 × 224 cut out, ImageNet-normalised; bytes that are not an image are bad input.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import { preprocessImage } from './preprocess.js';

type Rgb = readonly [number, number, number];

/** A PNG of `width` × `height` whose pixel colour `paint(x, y)` gives. */
async function png(width: number, height: number, paint: (x: number, y: number) => Rgb): Promise<Uint8Array> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(paint(x, y), 3 * (y * width + x));
  return new Uint8Array(
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** The 0–255 colour of output pixel (x, y), normalisation undone. */
function colourAt(out: Float32Array, x: number, y: number, size = 224): Rgb {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const at = 3 * (y * size + x);
  const c = (k: number): number => Math.round((out[at + k]! * std[k]! + mean[k]!) * 255) + 0;
  return [c(0), c(1), c(2)];
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];

describe('preprocessImage', () => {
  it('resizes to 256 and then cuts out the centre 224: a 16-pixel border of a 256 × 256 image is gone', async () => {
    // Resizing straight to 224 would keep a 14-pixel border.
    const border = 16;
    const image = await png(256, 256, (x, y) =>
      x < border || y < border || x >= 256 - border || y >= 256 - border ? RED : BLUE,
    );
    const out = await preprocessImage(image);
    expect(out).toHaveLength(224 * 224 * 3);
    for (const [x, y] of [
      [0, 0],
      [223, 0],
      [0, 223],
      [223, 223],
      [112, 0],
    ] as const)
      expect(colourAt(out, x, y)).toEqual(BLUE);
  });

  it('keeps the proportions of a wide image: its shorter side to 256, the centre cut out', async () => {
    // 512 × 256: no resize; the crop starts at x = 144, so a red band at x < 100 is gone and a
    // green stripe at x 250..261 lands at output columns 106..117.
    const image = await png(512, 256, (x) => (x < 100 ? RED : x >= 250 && x < 262 ? GREEN : BLUE));
    const out = await preprocessImage(image);
    expect(colourAt(out, 0, 112)).toEqual(BLUE);
    expect(colourAt(out, 111, 112)).toEqual(GREEN);
    expect(colourAt(out, 105, 112)).toEqual(BLUE);
    expect(colourAt(out, 118, 112)).toEqual(BLUE);
  });

  it('answers other input sizes in proportion (256/224 of the size first)', async () => {
    const image = await png(64, 64, (x, y) => (x < 4 || y < 4 || x >= 60 || y >= 60 ? RED : BLUE));
    const out = await preprocessImage(image, 56);
    expect(out).toHaveLength(56 * 56 * 3);
    expect(colourAt(out, 0, 0, 56)).toEqual(BLUE);
  });

  it.each([
    { name: 'an empty body', bytes: new Uint8Array(), message: /empty body/ },
    { name: 'text', bytes: new TextEncoder().encode('not an image at all'), message: /not a readable image/ },
  ])('refuses $name as bad input', async ({ bytes, message }) => {
    await expect(preprocessImage(bytes)).rejects.toThrow(BadInputError);
    await expect(preprocessImage(bytes)).rejects.toThrow(message);
  });
});
