// KServe v1 on the served model: `{"instances": [...]}` → `{"predictions": [...]}`, one
// probability list per instance (in the order of the model's labels).
import { BadInputError } from '../_shared/errors.js';
import { isRecord } from './infer-v2.js';
import type { ServedModel } from './model-loader.js';
import type { Predict } from './run-model.js';
import { rawInstances, rawPredictions } from './onnx-raw.js';
import { prepareInstances } from './tensor-input.js';

export interface V1PredictResponse {
  predictions: number[][];
}

/** A user's ONNX model: per instance its output row, or every output's row by name. */
export interface V1RawPredictResponse {
  predictions: unknown[];
}

export function parseV1Request(body: unknown): unknown[] {
  if (!isRecord(body) || !Array.isArray(body.instances))
    throw new BadInputError('the request body must be a JSON object {"instances": [...]}');
  return body.instances;
}

/** Validates the instances against the model the caller holds (400 before `predict`), runs them, answers. */
export async function predictV1(
  served: ServedModel,
  body: unknown,
  maxBatch: number,
  predict: Predict,
): Promise<V1PredictResponse> {
  const batch = prepareInstances(parseV1Request(body), served, maxBatch);
  const p = await predict(batch);
  const predictions: number[][] = [];
  for (let i = 0; i < p.n; i++) predictions.push(Array.from(p.values.subarray(i * p.classes, (i + 1) * p.classes)));
  return { predictions };
}

/** v1 on a user's ONNX model (one input): each instance is one row of it. */
export async function predictRawV1(
  served: ServedModel,
  body: unknown,
  maxBatch: number,
): Promise<V1RawPredictResponse> {
  const raw = served.raw;
  if (!raw) throw new BadInputError('this model answers through predictV1');
  return { predictions: rawPredictions(raw, await raw.run(rawInstances(raw, parseV1Request(body), maxBatch))) };
}

export function modelStatusV1(name: string, ready: boolean): { name: string; ready: boolean } {
  return { name, ready };
}
