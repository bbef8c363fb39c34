// The safetensors layout, the one binary tensor format on Kaskade's wire and in its checkpoints:
// an 8-byte little-endian header length N, N bytes of JSON header (name → dtype, shape,
// data_offsets; optional "__metadata__" of string → string), then the raw little-endian data.
// Decoding treats its input as untrusted: every field is checked before anything is allocated.
import { BadInputError, PayloadTooLargeError, WireFormatError } from '../errors.js';

/** The dtypes Kaskade puts on the wire, spelled as safetensors spells them. */
export const DTYPES = ['F32', 'F16', 'I32', 'U8', 'BOOL'] as const;
export type DType = (typeof DTYPES)[number];

/** The typed array each dtype is held in (F16 keeps its raw IEEE-754 half bits). */
export interface DTypeArrays {
  F32: Float32Array;
  F16: Uint16Array;
  I32: Int32Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

/** One named tensor: `data.length` equals the product of `shape` (1 for a scalar `[]`). */
export type WireTensor = { [D in DType]: { dtype: D; shape: number[]; data: DTypeArrays[D] } }[DType];

export type Metadata = Record<string, string>;

export interface DecodedTensors {
  /** Null-prototype record: tensor names never collide with Object.prototype. */
  tensors: Record<string, WireTensor>;
  metadata: Metadata | undefined;
}

export interface DecodeOptions {
  /** Largest accepted input in bytes; larger → PayloadTooLargeError. */
  maxBytes?: number;
}

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { F32: 4, F16: 2, I32: 4, U8: 1, BOOL: 1 };
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
/** The reference implementation's bound on the JSON header. */
export const MAX_HEADER_BYTES = 100 * 1000 * 1000;
const METADATA_KEY = '__metadata__';
const ARRAY_CLASS: { [D in DType]: new (length: number) => DTypeArrays[D] } = {
  F32: Float32Array,
  F16: Uint16Array,
  I32: Int32Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes named tensors (and optional string metadata) into one safetensors buffer. Tensors are
 * laid out widest dtype first, then by name, so every tensor's data stays aligned to its element
 * size and decodes without copies.
 */
export function encodeTensors(
  tensors: Readonly<Record<string, WireTensor>>,
  metadata?: Metadata,
): Uint8Array<ArrayBuffer> {
  const parts = encodeTensorParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let cursor = 0;
  for (const part of parts) {
    out.set(part, cursor);
    cursor += part.byteLength;
  }
  return out;
}

/**
 * The same bytes as `encodeTensors`, as parts to send one after another: the length and header,
 * then each tensor's data, a view of the caller's array where the host is little-endian (no
 * copy: keep the arrays unchanged until the parts are sent).
 */
export function encodeTensorParts(tensors: Readonly<Record<string, WireTensor>>, metadata?: Metadata): Uint8Array[] {
  const entries = Object.entries(tensors);
  for (const [name, tensor] of entries) checkEncodable(name, tensor);
  entries.sort(
    ([a, ta], [b, tb]) => BYTES_PER_ELEMENT[tb.dtype] - BYTES_PER_ELEMENT[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0),
  );

  // Built by hand: JSON.stringify of an object would move integer-like names ("0", "1") first,
  // and the header order should follow the data order.
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(checkMetadata(metadata))}`);
  let offset = 0;
  for (const [name, { dtype, shape, data }] of entries) {
    const end = offset + data.byteLength;
    fields.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);

  const head = new Uint8Array(8 + headerLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length, 8 + headerLength);
  const parts: Uint8Array[] = [head];
  for (const [, { data }] of entries) {
    if (data.byteLength === 0) continue;
    if (LITTLE_ENDIAN_HOST || data.BYTES_PER_ELEMENT === 1) {
      parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {
      const swapped = new Uint8Array(data.byteLength);
      writeLittleEndian(swapped, 0, data);
      parts.push(swapped);
    }
  }
  return parts;
}

function checkEncodable(name: string, tensor: WireTensor): void {
  if (name === '' || name === METADATA_KEY || name === '__proto__')
    throw new BadInputError(`tensor name "${name}" is not allowed`);
  if (!(DTYPES as readonly string[]).includes(tensor.dtype))
    throw new BadInputError(`tensor "${name}": unknown dtype ${String(tensor.dtype)}`);
  if (!(tensor.data instanceof ARRAY_CLASS[tensor.dtype])) {
    throw new BadInputError(`tensor "${name}": ${tensor.dtype} data must be a ${ARRAY_CLASS[tensor.dtype].name}`);
  }
  const count = elementCount(tensor.shape);
  if (count === undefined)
    throw new BadInputError(
      `tensor "${name}": shape ${JSON.stringify(tensor.shape)} is not a list of non-negative integers`,
    );
  if (count !== tensor.data.length) {
    throw new BadInputError(
      `tensor "${name}": shape ${JSON.stringify(tensor.shape)} holds ${count} elements, data has ${tensor.data.length}`,
    );
  }
}

function checkMetadata(metadata: Metadata): Metadata {
  const out: Metadata = Object.create(null) as Metadata;
  for (const [key, value] of Object.entries(metadata)) {
    if (key === '__proto__') throw new BadInputError('metadata key "__proto__" is not allowed');
    if (typeof value !== 'string') throw new BadInputError(`metadata "${key}" must be a string`);
    out[key] = value;
  }
  return out;
}

function writeLittleEndian(out: Uint8Array, at: number, data: WireTensor['data']): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || data.BYTES_PER_ELEMENT === 1) {
    out.set(bytes, at);
    return;
  }
  const width = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += width) {
    for (let b = 0; b < width; b++) out[at + i + b] = bytes[i + width - 1 - b] ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a safetensors buffer. Tensor data are views into `bytes` (no copy) whenever the data
 * offset is aligned to the element size; otherwise that one tensor is copied. The views share
 * memory with `bytes`: do not reuse the input buffer while the tensors are in use.
 *
 * Throws PayloadTooLargeError above `maxBytes`, WireFormatError for any other violation.
 */
export function decodeTensors(bytes: Uint8Array, options: DecodeOptions = {}): DecodedTensors {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes)
    throw new PayloadTooLargeError(`tensor payload of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  const { header, dataStart } = readHeader(bytes);
  const bodyLength = bytes.length - dataStart;

  const tensors: Record<string, WireTensor> = Object.create(null) as Record<string, WireTensor>;
  let metadata: Metadata | undefined;
  const spans: { name: string; begin: number; end: number }[] = [];
  const infos: { name: string; info: TensorInfo }[] = [];
  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value);
      continue;
    }
    if (name === '') throw new WireFormatError('empty tensor name');
    const info = parseTensorInfo(name, value, bodyLength);
    infos.push({ name, info });
    spans.push({ name, begin: info.begin, end: info.end });
  }
  checkCoverage(spans, bodyLength);
  for (const { name, info } of infos) tensors[name] = view(bytes, dataStart, info);
  return { tensors, metadata };
}

interface TensorInfo {
  dtype: DType;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

function readHeader(bytes: Uint8Array): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8)
    throw new WireFormatError(`tensor payload of ${bytes.length} bytes is shorter than its 8-byte header length`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw new WireFormatError(
      `header length ${declared} exceeds the payload (${bytes.length} bytes) or the ${MAX_HEADER_BYTES}-byte bound`,
    );
  }
  const headerLength = Number(declared);
  const dataStart = 8 + headerLength;
  if (bytes[8] !== 0x7b) throw new WireFormatError('header does not start with "{"');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch (e) {
    throw new WireFormatError('header is not valid UTF-8', { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new WireFormatError(`header is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isPlainObject(parsed)) throw new WireFormatError('header is not a JSON object');
  rejectProtoKey(parsed, 'header');
  return { header: parsed, dataStart };
}

function parseTensorInfo(name: string, value: unknown, bodyLength: number): TensorInfo {
  if (!isPlainObject(value)) throw new WireFormatError(`tensor "${name}": entry is not an object`);
  rejectProtoKey(value, `tensor "${name}"`);
  for (const key of Object.keys(value)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets')
      throw new WireFormatError(`tensor "${name}": unknown field "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !(DTYPES as readonly string[]).includes(dtype)) {
    throw new WireFormatError(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
  }
  const known = dtype as DType;
  if (!Array.isArray(shape)) throw new WireFormatError(`tensor "${name}": shape is not a list`);
  const count = elementCount(shape);
  if (count === undefined)
    throw new WireFormatError(
      `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`,
    );
  if (!Array.isArray(offsets) || offsets.length !== 2)
    throw new WireFormatError(`tensor "${name}": data_offsets is not [begin, end]`);
  const [begin, end] = offsets as unknown[];
  if (!isIndex(begin) || !isIndex(end) || begin > end || end > bodyLength) {
    throw new WireFormatError(
      `tensor "${name}": data_offsets ${JSON.stringify(offsets)} fall outside the ${bodyLength}-byte body`,
    );
  }
  // count ≤ MAX_SAFE_INTEGER, and the byte span is ≤ bodyLength, so this product cannot overflow
  // into a false match for any span that passed the check above.
  if (count * BYTES_PER_ELEMENT[known] !== end - begin) {
    throw new WireFormatError(
      `tensor "${name}": shape ${JSON.stringify(shape)} of ${known} needs ${count * BYTES_PER_ELEMENT[known]} bytes, offsets span ${end - begin}`,
    );
  }
  return { dtype: known, shape: shape as number[], count, begin, end };
}

function parseMetadata(value: unknown): Metadata | undefined {
  if (value === null) return undefined;
  if (!isPlainObject(value)) throw new WireFormatError('__metadata__ is not an object');
  rejectProtoKey(value, '__metadata__');
  const out: Metadata = Object.create(null) as Metadata;
  for (const key of Object.keys(value)) {
    const entry = value[key];
    if (typeof entry !== 'string') throw new WireFormatError(`__metadata__ "${key}" is not a string`);
    out[key] = entry;
  }
  return out;
}

/** The data spans must tile the body exactly: sorted, no overlap, no gap, nothing after. */
function checkCoverage(spans: { name: string; begin: number; end: number }[], bodyLength: number): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const span of spans) {
    if (span.begin < cursor) throw new WireFormatError(`tensor "${span.name}" overlaps the tensor before it`);
    if (span.begin > cursor)
      throw new WireFormatError(`gap of ${span.begin - cursor} bytes before tensor "${span.name}"`);
    cursor = span.end;
  }
  if (cursor !== bodyLength)
    throw new WireFormatError(`${bodyLength - cursor} bytes after the last tensor are not described by the header`);
}

function view(bytes: Uint8Array, dataStart: number, info: TensorInfo): WireTensor {
  const at = bytes.byteOffset + dataStart + info.begin;
  const width = BYTES_PER_ELEMENT[info.dtype];
  const shape = [...info.shape];
  const aligned = at % width === 0 && LITTLE_ENDIAN_HOST;
  switch (info.dtype) {
    case 'F32':
      return {
        dtype: 'F32',
        shape,
        data: aligned ? new Float32Array(bytes.buffer, at, info.count) : copyOut(bytes, at, info, Float32Array),
      };
    case 'F16':
      return {
        dtype: 'F16',
        shape,
        data: aligned ? new Uint16Array(bytes.buffer, at, info.count) : copyOut(bytes, at, info, Uint16Array),
      };
    case 'I32':
      return {
        dtype: 'I32',
        shape,
        data: aligned ? new Int32Array(bytes.buffer, at, info.count) : copyOut(bytes, at, info, Int32Array),
      };
    case 'U8':
      return { dtype: 'U8', shape, data: new Uint8Array(bytes.buffer, at, info.count) };
    case 'BOOL':
      return { dtype: 'BOOL', shape, data: new Uint8Array(bytes.buffer, at, info.count) };
  }
}

/** A misaligned (or big-endian host) tensor: copy its bytes into a fresh, aligned array. */
function copyOut<T extends Float32Array | Uint16Array | Int32Array>(
  bytes: Uint8Array,
  at: number,
  info: TensorInfo,
  Kind: new (buffer: ArrayBuffer) => T,
): T {
  const copy = new Uint8Array(info.end - info.begin);
  const source = new Uint8Array(bytes.buffer, at, copy.length);
  if (LITTLE_ENDIAN_HOST) copy.set(source);
  else {
    const width = BYTES_PER_ELEMENT[info.dtype];
    for (let i = 0; i < copy.length; i += width)
      for (let b = 0; b < width; b++) copy[i + b] = source[i + width - 1 - b] ?? 0;
  }
  return new Kind(copy.buffer);
}

// ---------------------------------------------------------------------------------------------
// Small checks

/** Product of a shape, or undefined when an entry is not a non-negative safe integer or it overflows. */
export function elementCount(shape: readonly unknown[]): number | undefined {
  let count = 1;
  for (const dim of shape) {
    if (!isIndex(dim)) return undefined;
    count *= dim;
    if (!Number.isSafeInteger(count)) return undefined;
  }
  return count;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// JSON.parse makes "__proto__" an own property, harmless by itself, but any later copy with
// plain assignment would rewrite a prototype: refuse it outright.
function rejectProtoKey(value: Record<string, unknown>, where: string): void {
  if (Object.prototype.hasOwnProperty.call(value, '__proto__'))
    throw new WireFormatError(`${where}: key "__proto__" is not allowed`);
}
