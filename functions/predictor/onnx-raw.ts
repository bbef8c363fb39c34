// The v2 and v1 APIs on a user's own ONNX model: inputs and outputs by the model's own names,
// datatypes and shapes (dynamic dimensions as -1), validated before ONNX Runtime sees them.
import { BadInputError } from '../_shared/errors.js';
import {
  dtypeOfDatatype,
  type HostTensor,
  type ServingModel,
  type TensorData,
  type TensorDtype,
  type TensorInfo,
} from '../_shared/serving/types.js';
import { DATATYPES, type ClientTensor } from './tensor-input.js';

export interface RawV2Output {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

function flatten(data: unknown[]): unknown[] {
  return data.some(Array.isArray) ? data.flat<unknown[], 20>(20) : data;
}

function typed(dtype: TensorDtype, values: unknown[], name: string): TensorData {
  const numbers = values.map((v, i) => {
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new BadInputError(`input "${name}": value ${i} is not a finite number`);
    if (dtype !== 'float32' && dtype !== 'float64' && !Number.isInteger(n))
      throw new BadInputError(`input "${name}": value ${i} (${n}) is not an integer`);
    return n;
  });
  switch (dtype) {
    case 'float32':
      return Float32Array.from(numbers);
    case 'float64':
      return Float64Array.from(numbers);
    case 'int8':
      return Int8Array.from(numbers);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(numbers);
    case 'int16':
      return Int16Array.from(numbers);
    case 'uint16':
      return Uint16Array.from(numbers);
    case 'int32':
      return Int32Array.from(numbers);
    case 'uint32':
      return Uint32Array.from(numbers);
    case 'int64':
      return BigInt64Array.from(numbers.map((n) => BigInt(n)));
    case 'uint64':
      return BigUint64Array.from(numbers.map((n) => BigInt(n)));
  }
}

/** One client tensor → the model input it names, checked for datatype, shape and batch size. */
export function rawFeed(tensor: ClientTensor, info: TensorInfo, maxBatch: number): HostTensor {
  if (!(DATATYPES as readonly string[]).includes(tensor.datatype))
    throw new BadInputError(
      `input "${tensor.name}": unknown datatype "${tensor.datatype}" (one of ${DATATYPES.join(', ')})`,
    );
  if (dtypeOfDatatype(tensor.datatype) !== info.dtype)
    throw new BadInputError(`input "${tensor.name}" must be ${info.datatype}, got ${tensor.datatype}`);
  const fits = tensor.shape.length === info.shape.length && info.shape.every((d, k) => d < 0 || d === tensor.shape[k]);
  if (!fits || !tensor.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new BadInputError(
      `input "${tensor.name}" must have shape [${info.shape.join(',')}] (-1: any), got [${tensor.shape.join(',')}]`,
    );
  if ((tensor.shape[0] ?? 0) > maxBatch)
    throw new BadInputError(`input "${tensor.name}": batch of ${tensor.shape[0]} is over the limit of ${maxBatch}`);
  const values = flatten(tensor.data);
  const size = tensor.shape.reduce((a, b) => a * b, 1);
  if (values.length !== size)
    throw new BadInputError(
      `input "${tensor.name}" has ${values.length} values for shape [${tensor.shape.join(',')}] (${size})`,
    );
  return { dtype: info.dtype, shape: tensor.shape, data: typed(info.dtype, values, tensor.name) };
}

/** Every model input from the request's tensors, by name; 400 for a missing or unknown one. */
export function rawFeeds(
  model: ServingModel,
  tensors: readonly ClientTensor[],
  maxBatch: number,
): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const tensor of tensors) {
    const info = model.inputs.find((i) => i.name === tensor.name);
    if (info === undefined)
      throw new BadInputError(
        `unknown input "${tensor.name}": this model takes ${model.inputs.map((i) => `"${i.name}"`).join(', ')}`,
      );
    feeds[tensor.name] = rawFeed(tensor, info, maxBatch);
  }
  const missing = model.inputs.filter((i) => feeds[i.name] === undefined);
  if (missing.length > 0) throw new BadInputError(`missing input ${missing.map((i) => `"${i.name}"`).join(', ')}`);
  return feeds;
}

/** The model's answers as v2 output tensors (all of them, or the ones `requested` names). */
export function rawOutputs(
  model: ServingModel,
  answers: Record<string, HostTensor>,
  requested?: readonly string[],
): RawV2Output[] {
  const names = requested ?? model.outputs.map((o) => o.name);
  return names.map((name) => {
    const info = model.outputs.find((o) => o.name === name);
    const t = answers[name];
    if (info === undefined || t === undefined)
      throw new BadInputError(
        `unknown output "${name}": this model answers ${model.outputs.map((o) => `"${o.name}"`).join(', ')}`,
      );
    return { name, shape: [...t.shape], datatype: info.datatype, data: Array.from(t.data, Number) };
  });
}

/** KServe v1 on one-input models: each instance is one row of the (only) input. */
export function rawInstances(model: ServingModel, instances: unknown[], maxBatch: number): Record<string, HostTensor> {
  const [input] = model.inputs;
  if (input === undefined || model.inputs.length !== 1)
    throw new BadInputError(`KServe v1 serves one-input models; this one takes ${model.inputs.length} inputs (use v2)`);
  if (instances.length === 0) throw new BadInputError('"instances" is empty');
  const rowShape = input.shape.slice(1).map((d, k) => (d >= 0 ? d : flattenShape(instances[0], k)));
  const shape = [instances.length, ...rowShape];
  return {
    [input.name]: rawFeed({ name: input.name, shape, datatype: input.datatype, data: instances }, input, maxBatch),
  };
}

function flattenShape(row: unknown, axis: number): number {
  let at: unknown = row;
  for (let k = 0; k < axis; k++) at = Array.isArray(at) ? at[0] : undefined;
  return Array.isArray(at) ? at.length : -1;
}

/** v1 predictions: per instance, the (only) output's row, or an object of every output's row. */
export function rawPredictions(model: ServingModel, answers: Record<string, HostTensor>): unknown[] {
  const outputs = rawOutputs(model, answers);
  const n = outputs[0]?.shape[0] ?? 0;
  const rowOf = (o: RawV2Output, i: number): number[] => {
    const per = o.shape.slice(1).reduce((a, b) => a * b, 1);
    return o.data.slice(i * per, (i + 1) * per);
  };
  return Array.from({ length: n }, (_, i) =>
    outputs.length === 1 && outputs[0]
      ? rowOf(outputs[0], i)
      : Object.fromEntries(outputs.map((o) => [o.name, rowOf(o, i)])),
  );
}
