// The Open Inference Protocol v2 (KServe) for the served model: request parsing with a 400
// that names the problem, the answer, and the server and model metadata documents.
import { BadInputError } from '../_shared/errors.js';
import type { ServedModel } from './model-loader.js';
import { rawFeeds, rawOutputs } from './onnx-raw.js';
import type { Predict } from './run-model.js';
import { prepareTensor, type ClientTensor, type TensorMetadata } from './tensor-input.js';

export const OUTPUT_NAME = 'probabilities';

export interface V2InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: ClientTensor[];
  outputs?: { name: string }[];
}

export interface V2OutputTensor {
  name: string;
  shape: number[];
  datatype: 'FP32';
  data: number[];
}

/** A user's ONNX model answers its own outputs (names and datatypes from the model). */
export interface V2RawOutputTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

export interface V2InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: (V2OutputTensor | V2RawOutputTensor)[];
}

export interface V2ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  /** Where the weights came from, for people and the web page. */
  parameters: {
    model: string;
    dataset: string;
    job_id: string;
    round: number;
    rounds: number;
    test_accuracy: number | null;
    test_loss: number | null;
    created_at: string;
    labels: string[];
    input: ServedModel['metadata']['input'];
  };
}

export const PLATFORM = 'tensorflowjs_layers';
export const ONNX_PLATFORM = 'onnxruntime_onnx';

export function serverMetadataV2(version: string): { name: string; version: string; extensions: string[] } {
  return { name: 'kaskade-predictor', version, extensions: ['model_repository'] };
}

export function modelMetadataV2(name: string, served: ServedModel): V2ModelMetadata {
  const m = served.metadata;
  return {
    name,
    versions: [served.version],
    platform: served.engine === 'onnx' ? ONNX_PLATFORM : PLATFORM,
    inputs: [...served.inputs],
    outputs: [...served.outputs],
    parameters: {
      model: m.model,
      dataset: m.dataset,
      job_id: m.jobId,
      round: m.round,
      rounds: m.rounds,
      test_accuracy: m.testAccuracy,
      test_loss: m.testLoss,
      created_at: m.createdAt,
      labels: [...m.labels],
      input: m.input,
    },
  };
}

/** Checks the JSON structure of an infer request (not yet against a model). */
export function parseV2Request(body: unknown): V2InferRequest {
  if (!isRecord(body)) throw new BadInputError('the request body must be a JSON object with "inputs"');
  const { id, parameters, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw new BadInputError('"id" must be a string');
  if (parameters !== undefined && !isRecord(parameters)) throw new BadInputError('"parameters" must be an object');
  if (!Array.isArray(inputs))
    throw new BadInputError('"inputs" must be an array of tensors {name, shape, datatype, data}');
  if (inputs.length !== 1) throw new BadInputError(`this model takes exactly one input tensor, got ${inputs.length}`);
  const request: V2InferRequest = { inputs: inputs.map((t, i) => parseTensor(t, `inputs[${i}]`)) };
  if (id !== undefined) request.id = id;
  if (parameters !== undefined) request.parameters = parameters;
  if (outputs !== undefined) request.outputs = parseOutputs(outputs);
  return request;
}

/**
 * Validates one v2 infer request against the model the caller holds, has `predict` run it, and
 * answers. A bad request throws BadInputError before `predict` is called.
 */
export async function inferV2(
  served: ServedModel,
  modelName: string,
  body: unknown,
  maxBatch: number,
  predict: Predict,
): Promise<V2InferResponse> {
  if (served.raw) return inferRawV2(served, modelName, body, maxBatch);
  const request = parseV2Request(body);
  const [tensor] = request.inputs;
  if (!tensor) throw new BadInputError('no input tensor');
  const batch = prepareTensor(tensor, served, maxBatch);
  const p = await predict(batch);
  const response: V2InferResponse = {
    model_name: modelName,
    model_version: served.version,
    outputs: [{ name: OUTPUT_NAME, shape: [p.n, p.classes], datatype: 'FP32', data: Array.from(p.values) }],
  };
  if (request.id !== undefined) response.id = request.id;
  return response;
}

/** v2 on a user's ONNX model: every input by its own name, every (or each requested) output. */
async function inferRawV2(
  served: ServedModel,
  modelName: string,
  body: unknown,
  maxBatch: number,
): Promise<V2InferResponse> {
  const raw = served.raw;
  if (!raw) throw new BadInputError('not a raw model');
  if (!isRecord(body) || !Array.isArray(body.inputs))
    throw new BadInputError('the request body must be a JSON object with "inputs"');
  if (body.id !== undefined && typeof body.id !== 'string') throw new BadInputError('"id" must be a string');
  const tensors = body.inputs.map((t, i) => parseTensor(t, `inputs[${i}]`));
  const requested = body.outputs === undefined ? undefined : parseOutputNames(body.outputs);
  const answers = await raw.run(rawFeeds(raw, tensors, maxBatch));
  const response: V2InferResponse = {
    model_name: modelName,
    model_version: served.version,
    outputs: rawOutputs(raw, answers, requested),
  };
  if (typeof body.id === 'string') response.id = body.id;
  return response;
}

function parseOutputNames(outputs: unknown): string[] {
  if (!Array.isArray(outputs)) throw new BadInputError('"outputs" must be an array of {name}');
  return outputs.map((o, i) => {
    if (!isRecord(o) || typeof o.name !== 'string')
      throw new BadInputError(`outputs[${i}] must be an object with a "name"`);
    return o.name;
  });
}

function parseTensor(value: unknown, where: string): ClientTensor {
  if (!isRecord(value)) throw new BadInputError(`${where} must be an object {name, shape, datatype, data}`);
  const { name, shape, datatype, data } = value;
  if (typeof name !== 'string') throw new BadInputError(`${where}.name must be a string`);
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number')) {
    throw new BadInputError(`${where}.shape must be an array of integers`);
  }
  if (typeof datatype !== 'string') throw new BadInputError(`${where}.datatype must be a string such as "FP32"`);
  if (!Array.isArray(data)) throw new BadInputError(`${where}.data must be an array (flat, row-major)`);
  return { name, shape, datatype, data };
}

function parseOutputs(outputs: unknown): { name: string }[] {
  if (!Array.isArray(outputs)) throw new BadInputError('"outputs" must be an array of {name}');
  return outputs.map((o, i) => {
    if (!isRecord(o) || typeof o.name !== 'string')
      throw new BadInputError(`outputs[${i}] must be an object with a "name"`);
    if (o.name !== OUTPUT_NAME)
      throw new BadInputError(`unknown output "${o.name}": this model answers "${OUTPUT_NAME}"`);
    return { name: o.name };
  });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
