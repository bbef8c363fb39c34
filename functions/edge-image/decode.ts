// Turning what a client sends into model input: image bytes (PNG, JPEG, WebP, GIF, TIFF, ...)
// decoded and resized by sharp, or the same bytes as base64 (plain, a data URL, or JSON
// `{"image": "..."}`). Bytes that are not an image are a BadInputError, never a 500.
import sharp from 'sharp';
import { BadInputError } from '../_shared/errors.js';

/** Most pixels an input image may have before it is refused (decompression bombs). */
export const MAX_INPUT_PIXELS = 40_000_000;

/** RGB pixels in [0, 1], HWC order, resized to size × size. */
export async function decodeImage(bytes: Uint8Array, size: number): Promise<Float32Array> {
  if (bytes.length === 0)
    throw new BadInputError('empty image; send PNG, JPEG, WebP, GIF or TIFF bytes, or them in base64');
  let raw: Buffer;
  try {
    raw = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
      .resize(size, size, { fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (e) {
    throw new BadInputError(`not a readable image: ${(e as Error).message}`, { cause: e });
  }
  if (raw.length !== size * size * 3)
    throw new BadInputError(`image decoded to ${raw.length} bytes, expected ${size * size * 3} (RGB)`);
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) out[i] = raw[i]! / 255;
  return out;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * The image bytes a text payload carries: JSON `{"image": "<base64>"}`, a `data:image/...;base64,`
 * URL, or bare base64 (standard or URL-safe alphabet).
 */
export function imageBytesFromText(text: string): Buffer {
  let payload = text.trim();
  if (payload.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch (e) {
      throw new BadInputError(`body is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    const image = (parsed as { image?: unknown }).image;
    if (typeof image !== 'string') throw new BadInputError('a JSON body is {"image": "<base64>"}');
    payload = image.trim();
  }
  const comma = payload.startsWith('data:') ? payload.indexOf(',') : -1;
  if (comma >= 0) {
    if (!payload.slice(0, comma).endsWith(';base64'))
      throw new BadInputError('a data URL must be base64 (data:image/png;base64,...)');
    payload = payload.slice(comma + 1);
  }
  const compact = payload.replace(/\s+/g, '');
  if (compact === '' || !BASE64.test(compact))
    throw new BadInputError(
      'image text is not base64 (send the bytes as is, or base64, a data URL, or {"image": "<base64>"})',
    );
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}
