// Turning client tensors into the one batch a model takes. Both APIs (v2 `inputs`, v1
// `instances`) end here, so a bad request is rejected with the same precise 400 whichever way
// it came, before any tensor is allocated.
import { BadInputError } from '../_shared/errors.js';
import type { ModelInput } from '../_shared/models/metadata.js';

/** The tensor datatypes of the Open Inference Protocol v2. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type Datatype = (typeof DATATYPES)[number];

/** Raw text → token ids (`texts.length × sequenceLength`, row-major), with the model's own vocabulary. */
export type TextEncoderFn = (texts: readonly string[]) => Int32Array;

/** What one loaded model accepts over the API. */
export interface ServedInput {
  readonly input: ModelInput;
  /** Present when the model folder carries a vocabulary: then a `text` (BYTES) input is accepted too. */
  readonly encodeText?: TextEncoderFn;
}

/** One client tensor after JSON structure checks (v2 `inputs[i]`). */
export interface ClientTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

/** The model-ready batch: values row-major, `shape` = [n, ...instance shape]. */
export type ModelBatch =
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly values: Float32Array }
  | { readonly dtype: 'int32'; readonly shape: readonly number[]; readonly values: Int32Array };

/** A tensor description as `GET /v2/models/{name}` lists it (-1 = any batch size). */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

const FLOAT_TYPES: readonly Datatype[] = ['FP16', 'FP32', 'FP64'];
const IMAGE_TYPES: readonly Datatype[] = [...FLOAT_TYPES, 'UINT8'];
const TOKEN_TYPES: readonly Datatype[] = ['INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16'];
const FLOAT32_MAX = 3.4028234663852886e38;

/** The inputs a model lists in its v2 metadata (the first is the canonical one). */
export function inputMetadata(served: ServedInput): TensorMetadata[] {
  const input = served.input;
  if (input.kind === 'image') {
    return [{ name: 'image', datatype: 'FP32', shape: [-1, input.height, input.width, input.channels] }];
  }
  const tokens: TensorMetadata = { name: 'tokens', datatype: 'INT32', shape: [-1, input.sequenceLength] };
  return served.encodeText ? [tokens, { name: 'text', datatype: 'BYTES', shape: [-1] }] : [tokens];
}

export function isDatatype(value: string): value is Datatype {
  return (DATATYPES as readonly string[]).includes(value);
}

/** Validates one v2 input tensor against the served model and builds its batch. */
export function prepareTensor(tensor: ClientTensor, served: ServedInput, maxBatch: number): ModelBatch {
  const names = inputMetadata(served).map((m) => m.name);
  if (tensor.name === 'text' && served.input.kind === 'image') return prepareText(tensor, [], served, maxBatch);
  if (!names.includes(tensor.name)) {
    throw new BadInputError(
      `unknown input "${tensor.name}": this model takes ${names.map((n) => `"${n}"`).join(' or ')}`,
    );
  }
  if (!isDatatype(tensor.datatype)) {
    throw new BadInputError(
      `input "${tensor.name}": unknown datatype "${tensor.datatype}" (one of ${DATATYPES.join(', ')})`,
    );
  }
  checkShapeForm(tensor.name, tensor.shape);
  const data = flattenData(tensor.data);
  const input = served.input;
  if (tensor.name === 'text') return prepareText(tensor, data, served, maxBatch);
  if (input.kind === 'image') {
    accept(tensor, IMAGE_TYPES);
    const instance = [input.height, input.width, input.channels];
    const n = imageBatchSize(tensor.name, tensor.shape, instance);
    checkBatch(n, maxBatch);
    checkLength(tensor.name, data.length, tensor.shape);
    return {
      dtype: 'float32',
      shape: [n, ...instance],
      values: toFloat32(tensor.name, data, tensor.datatype === 'UINT8'),
    };
  }
  accept(tensor, TOKEN_TYPES);
  const n = tensor.shape[0] ?? 0;
  if (tensor.shape.length !== 2 || tensor.shape[1] !== input.sequenceLength) {
    throw new BadInputError(
      `input "${tensor.name}": wrong shape [${tensor.shape.join(',')}], expected [n,${input.sequenceLength}] (n sequences of ${input.sequenceLength} token ids)`,
    );
  }
  checkBatch(n, maxBatch);
  checkLength(tensor.name, data.length, tensor.shape);
  return {
    dtype: 'int32',
    shape: [n, input.sequenceLength],
    values: toTokenIds(tensor.name, data, input.vocabularySize),
  };
}

/**
 * KServe v1 rows: each instance is one example, nested or flat (`[[...28 rows]]`, `[784 values]`),
 * an object keyed by the input name (`{"image": [...]}`), or a string for text models.
 */
export function prepareInstances(instances: unknown[], served: ServedInput, maxBatch: number): ModelBatch {
  if (instances.length === 0) throw new BadInputError('"instances" is empty');
  checkBatch(instances.length, maxBatch);
  const rows = instances.map((row, i) => unwrapInstance(row, i, served));
  if (rows.every((r) => typeof r === 'string')) {
    return prepareText({ name: 'text', shape: [rows.length], datatype: 'BYTES', data: rows }, rows, served, maxBatch);
  }
  const input = served.input;
  const per = input.kind === 'image' ? input.height * input.width * input.channels : input.sequenceLength;
  const what =
    input.kind === 'image'
      ? `${input.height}×${input.width}×${input.channels} pixel values`
      : `${input.sequenceLength} token ids`;
  const flat: unknown[] = [];
  rows.forEach((row, i) => {
    if (!Array.isArray(row))
      throw new BadInputError(`instances[${i}] must be an array of ${what}, got ${describe(row)}`);
    const values = flattenData(row);
    if (values.length !== per)
      throw new BadInputError(`instances[${i}] has ${values.length} values, expected ${per} (${what})`);
    for (const v of values) flat.push(v);
  });
  if (input.kind === 'image') {
    return {
      dtype: 'float32',
      shape: [rows.length, input.height, input.width, input.channels],
      values: toFloat32('instances', flat, false),
    };
  }
  return {
    dtype: 'int32',
    shape: [rows.length, input.sequenceLength],
    values: toTokenIds('instances', flat, input.vocabularySize),
  };
}

function unwrapInstance(row: unknown, i: number, served: ServedInput): unknown {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return row;
  const keys = Object.keys(row);
  const names = inputMetadata(served).map((m) => m.name);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined || !names.includes(key)) {
    throw new BadInputError(
      `instances[${i}] must be an array, a string, or an object with one key of ${names.join(', ')}`,
    );
  }
  return (row as Record<string, unknown>)[key];
}

function prepareText(tensor: ClientTensor, data: unknown[], served: ServedInput, maxBatch: number): ModelBatch {
  const input = served.input;
  if (input.kind === 'image') {
    throw new BadInputError(
      `input "${tensor.name}": this is an image model (${input.height}×${input.width}×${input.channels} pixels as "image"); it takes no text`,
    );
  }
  if (!served.encodeText)
    throw new BadInputError(
      `input "${tensor.name}": this model takes no text (it has no vocabulary); send token ids as "tokens"`,
    );
  accept(tensor, ['BYTES']);
  const shape = tensor.shape;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new BadInputError(`input "${tensor.name}": wrong shape [${shape.join(',')}], expected [n] (n texts)`);
  }
  const n = shape[0] ?? 0;
  checkBatch(n, maxBatch);
  checkLength(tensor.name, data.length, shape);
  const texts = data.map((v, i) => {
    if (typeof v !== 'string')
      throw new BadInputError(`input "${tensor.name}": data[${i}] is ${describe(v)}, not a string`);
    return v;
  });
  let ids: Int32Array;
  try {
    ids = served.encodeText(texts);
  } catch (e) {
    if (e instanceof BadInputError) throw new BadInputError(`input "${tensor.name}": ${e.message}`, { cause: e });
    throw e;
  }
  const length = served.input.kind === 'tokens' ? served.input.sequenceLength : ids.length / Math.max(n, 1);
  return { dtype: 'int32', shape: [n, length], values: ids };
}

function accept(tensor: ClientTensor, allowed: readonly Datatype[]): void {
  if (!(allowed as readonly string[]).includes(tensor.datatype)) {
    throw new BadInputError(
      `input "${tensor.name}": datatype ${tensor.datatype} is not accepted, use ${allowed.join(' or ')}`,
    );
  }
}

function checkShapeForm(name: string, shape: number[]): void {
  if (shape.length === 0) throw new BadInputError(`input "${name}": shape is empty, expected [n, ...]`);
  for (const [i, d] of shape.entries()) {
    if (!Number.isInteger(d) || d < 1)
      throw new BadInputError(`input "${name}": shape[${i}] is ${String(d)}, dimensions must be positive integers`);
  }
}

/** Image batches may come as [n,h,w,c], as [n,h,w] when c = 1, or flat as [n,h·w·c]. */
function imageBatchSize(name: string, shape: readonly number[], instance: readonly number[]): number {
  const [h = 0, w = 0, c = 0] = instance;
  const rest = shape.slice(1).join(',');
  const forms = [[h, w, c].join(','), String(h * w * c), ...(c === 1 ? [[h, w].join(',')] : [])];
  if (!forms.includes(rest)) {
    throw new BadInputError(
      `input "${name}": wrong shape [${shape.join(',')}], expected [n,${h},${w},${c}]${c === 1 ? ` or [n,${h},${w}]` : ''} or [n,${h * w * c}]`,
    );
  }
  return shape[0] ?? 0;
}

function checkBatch(n: number, maxBatch: number): void {
  if (n > maxBatch) throw new BadInputError(`too many instances: ${n} in one request, at most ${maxBatch}`);
}

function checkLength(name: string, length: number, shape: readonly number[]): void {
  const expected = shape.reduce((a, b) => a * b, 1);
  if (length !== expected) {
    throw new BadInputError(
      `input "${name}": data has ${length} elements but shape [${shape.join(',')}] needs ${expected}`,
    );
  }
}

/** v2 allows `data` flat or nested row-major; both become one flat list. */
function flattenData(data: unknown[]): unknown[] {
  return data.some((v) => Array.isArray(v)) ? data.flat<unknown[], 20>(20) : data;
}

function toFloat32(name: string, data: readonly unknown[], bytes: boolean): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > FLOAT32_MAX) {
      throw new BadInputError(`input "${name}": data[${i}] is ${describe(v)}, not a finite number`);
    }
    if (bytes) {
      if (!Number.isInteger(v) || v < 0 || v > 255)
        throw new BadInputError(`input "${name}": data[${i}] is ${v}, UINT8 takes integers 0..255`);
      out[i] = v / 255;
    } else {
      out[i] = v;
    }
  }
  return out;
}

function toTokenIds(name: string, data: readonly unknown[], vocabularySize: number): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabularySize) {
      throw new BadInputError(
        `input "${name}": data[${i}] is ${describe(v)}, token ids are integers 0..${vocabularySize - 1}`,
      );
    }
    out[i] = v;
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'undefined') return String(v);
  return `a ${typeof v}`;
}
