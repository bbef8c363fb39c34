// The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//
// Header: two zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets
// use), a dimension count d, then d big-endian uint32 sizes; then ∏ sizes bytes of data.
// So images are magic 0x00000803 (n × rows × cols) and labels 0x00000801 (n).
// Every size is checked against the byte length before anything is allocated.
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { BadInputError, PayloadTooLargeError } from '../errors.js';

const gunzipAsync = promisify(gunzip);
const UNSIGNED_BYTE = 0x08;
/** Largest decompressed file accepted (Fashion-MNIST's biggest is 47 MB). */
export const MAX_IDX_BYTES = 1 << 30;

export interface IdxArray {
  readonly dims: readonly number[];
  /** A view into the input bytes, no copy. */
  readonly data: Uint8Array;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip input (detected by its magic bytes, not the file name); other input is returned as is. */
export async function maybeGunzip(bytes: Uint8Array, name: string, maxBytes = MAX_IDX_BYTES): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzipAsync(bytes, { maxOutputLength: maxBytes });
  } catch (cause) {
    // zlib reports maxOutputLength as a RangeError (code ERR_BUFFER_TOO_LARGE).
    if (cause instanceof RangeError) {
      throw new PayloadTooLargeError(`${name}: decompresses to more than ${maxBytes} bytes`, { cause });
    }
    throw new BadInputError(`${name}: not valid gzip: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** Parses an uncompressed IDX file; `expectedDims` (1 for labels, 3 for images) is checked. */
export function parseIdx(bytes: Uint8Array, name: string, expectedDims?: number): IdxArray {
  if (bytes.length < 4) throw new BadInputError(`${name}: ${bytes.length} bytes is too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new BadInputError(`${name}: bad IDX magic 0x${magic.toString(16).padStart(8, '0')}`);
  }
  if (bytes[2] !== UNSIGNED_BYTE) {
    throw new BadInputError(
      `${name}: IDX data type 0x${(bytes[2] ?? 0).toString(16)} is not supported (only 0x08, unsigned byte)`,
    );
  }
  const rank = bytes[3] ?? 0;
  if (rank === 0 || (expectedDims !== undefined && rank !== expectedDims)) {
    throw new BadInputError(`${name}: IDX has ${rank} dimensions, expected ${expectedDims ?? 'at least 1'}`);
  }
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new BadInputError(`${name}: truncated IDX header`);
  const dims: number[] = [];
  let total = 1;
  for (let i = 0; i < rank; i++) {
    const size = view.getUint32(4 + 4 * i);
    dims.push(size);
    total *= size;
  }
  if (total !== bytes.length - headerBytes) {
    throw new BadInputError(
      `${name}: IDX dims [${dims.join(', ')}] need ${total} data bytes, file has ${bytes.length - headerBytes}`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Writes an IDX file of unsigned bytes (used to make fixtures and exports). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const total = dims.reduce((a, b) => a * b, 1);
  if (total !== data.length) throw new BadInputError(`IDX dims [${dims.join(', ')}] do not match ${data.length} bytes`);
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UNSIGNED_BYTE;
  out[3] = dims.length;
  dims.forEach((size, i) => view.setUint32(4 + 4 * i, size));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
