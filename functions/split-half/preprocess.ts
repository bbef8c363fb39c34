// Image bytes → the model's input: decoded by sharp, the shorter side resized to 256/224 of the
// input size, centre-cropped to the input size, ImageNet mean/std normalised (HWC, float32).
// Bytes that are not an image are a BadInputError (400), never a 500.
import sharp from 'sharp';
import { BadInputError } from '../_shared/errors.js';

/** Most pixels an input image may have before it is refused (decompression bombs). */
export const MAX_INPUT_PIXELS = 40_000_000;
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export async function preprocessImage(bytes: Uint8Array, size = 224): Promise<Float32Array> {
  if (bytes.length === 0) throw new BadInputError('empty body; send JPEG or PNG bytes (raw or multipart/form-data)');
  const resizeTo = Math.round((size * 256) / 224);
  let raw: Buffer;
  try {
    const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' });
    const { width, height } = await image.metadata();
    if (!width || !height) throw new BadInputError('not a readable image: it has no width or height');
    // As torchvision's Resize(256) then CenterCrop(224): the shorter side to 256 (the longer in
    // proportion, rounded down), then the centre 224 × 224. One sharp pipeline takes one resize,
    // so the crop is an extract after it.
    const short = Math.min(width, height);
    const w = width === short ? resizeTo : Math.max(resizeTo, Math.floor((resizeTo * width) / short));
    const h = height === short ? resizeTo : Math.max(resizeTo, Math.floor((resizeTo * height) / short));
    raw = await image
      .removeAlpha()
      .toColourspace('srgb')
      .resize(w, h, { fit: 'fill' })
      .extract({ left: Math.round((w - size) / 2), top: Math.round((h - size) / 2), width: size, height: size })
      .raw()
      .toBuffer();
  } catch (e) {
    if (e instanceof BadInputError) throw e;
    throw new BadInputError(`not a readable image: ${(e as Error).message}`, { cause: e });
  }
  if (raw.length !== size * size * 3)
    throw new BadInputError(`image decoded to ${raw.length} bytes, expected ${size * size * 3} (RGB)`);
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) {
    const c = i % 3;
    out[i] = (raw[i]! / 255 - MEAN[c]!) / STD[c]!;
  }
  return out;
}

/**
 * How a model takes an image: `[H, W, 3]` (channels-last, TF.js and Kaskade's exports) or
 * `[3, H, W]` (channels-first, PyTorch's exports), from its input shape without the batch.
 */
export function imageLayout(shape: readonly number[]): { size: number; channelsFirst: boolean } {
  const [a, b, c] = shape;
  if (shape.length === 3 && a === 3 && c !== 3 && b !== undefined) return { size: b, channelsFirst: true };
  if (shape.length === 3 && c === 3 && a !== undefined) return { size: a, channelsFirst: false };
  throw new BadInputError(`the model takes [${shape.join(', ')}], not an RGB image; send a v2 tensor`);
}

/** An HWC image (3 channels) as CHW. */
export function toChannelsFirst(hwc: Float32Array, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(hwc.length);
  for (let p = 0; p < plane; p++) {
    out[p] = hwc[3 * p]!;
    out[plane + p] = hwc[3 * p + 1]!;
    out[2 * plane + p] = hwc[3 * p + 2]!;
  }
  return out;
}

/** The first file part of a multipart/form-data body, or the body itself when it is not multipart. */
export function imageFromBody(body: Buffer, contentType: string): Buffer {
  const m = /^multipart\/form-data;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) return body;
  const boundary = Buffer.from(`--${m[1] ?? m[2] ?? ''}`);
  let at = body.indexOf(boundary);
  while (at >= 0) {
    const headerStart = at + boundary.length + 2;
    const headerEnd = body.indexOf('\r\n\r\n', headerStart);
    if (headerEnd < 0) break;
    const next = body.indexOf(boundary, headerEnd);
    if (next < 0) break;
    const headers = body.subarray(headerStart, headerEnd).toString('latin1');
    if (/filename=/i.test(headers) || /content-type:\s*image\//i.test(headers))
      return body.subarray(headerEnd + 4, next - 2);
    at = next;
  }
  throw new BadInputError('a multipart body needs a file part (form field with a filename) holding the image');
}
