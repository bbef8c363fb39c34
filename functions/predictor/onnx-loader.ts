// Loading a model on the serving engine that fits it. A published folder with model.onnx runs
// on ONNX Runtime (unless KASKADE_SERVING_ENGINE=tfjs), one with only model.json on TF.js; a
// user's own `.onnx` (a file URL, or a folder with model.onnx and no Kaskade metadata) is served
// with its own input and output names. Each load logs the engine it chose and why.
import { createHash } from 'node:crypto';
import { BadInputError, InferenceError, NotFoundError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import {
  MODEL_METADATA_FILE,
  MODEL_METADATA_FORMAT,
  decodeModelMetadata,
  type ModelMetadata,
} from '../_shared/models/metadata.js';
import { chooseEngine, describeChoice, type ModelForms } from '../_shared/serving/choose.js';
import type { ServingConfig } from '../_shared/serving/config.js';
import { MODEL_ONNX_FILE } from '../_shared/serving/export-onnx.js';
import { loadOrt, openOnnxModel } from '../_shared/serving/onnx-model.js';
import type { HostTensor, ServingModel } from '../_shared/serving/types.js';
import type { Store } from '../_shared/store/types.js';
import {
  loadServedModel,
  loadTextEncoder,
  type LoadOptions,
  type ModelLoader,
  type ServedModel,
} from './model-loader.js';
import type { Probabilities, TF } from './run-model.js';
import { inputMetadata, type ModelBatch, type ServedInput, type TensorMetadata } from './tensor-input.js';

export interface EngineLoaderDeps {
  readonly tf: TF;
  readonly store: Store;
  readonly serving: ServingConfig;
  readonly logger: Logger;
  readonly load?: LoadOptions;
}

/** A `.onnx` file URL served as it is (KASKADE_MODEL_URL=…/model.onnx). */
export function isOnnxFileUrl(url: string): boolean {
  return /\.onnx(#.*)?$/.test(url);
}

/** The identity of a user's `.onnx` file: its URL and a digest of its bytes, so a changed file is a new model. */
export async function onnxFileIdentity(store: Store, fileUrl: string): Promise<string> {
  const bytes = await store.read(fileUrl);
  return `${fileUrl}#sha256-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

async function readMetadata(store: Store, folderUrl: string): Promise<ModelMetadata | undefined> {
  try {
    return decodeModelMetadata(
      await store.read(`${folderUrl}${MODEL_METADATA_FILE}`),
      `${folderUrl}${MODEL_METADATA_FILE}`,
    );
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

export function engineLoader(deps: EngineLoaderDeps): ModelLoader {
  const { store, serving, logger } = deps;
  return async (identity) => {
    const file = isOnnxFileUrl(identity);
    const folderUrl = identity;
    const forms: ModelForms = file
      ? { onnx: true, tfjs: false }
      : {
          onnx: await store.exists(`${folderUrl}${MODEL_ONNX_FILE}`),
          tfjs: await store.exists(`${folderUrl}model.json`),
        };
    const engine = chooseEngine(serving.engine, forms, identity);
    const ortVersion = engine === 'onnx' ? (await loadOrt()).env.versions.node : undefined;
    logger.info(describeChoice(engine, serving.engine, forms, identity, serving.onnx, ortVersion));
    if (engine === 'tfjs') return loadServedModel(deps.tf, store, folderUrl, deps.load);
    const fileUrl = file ? identity.replace(/#.*$/, '') : `${folderUrl}${MODEL_ONNX_FILE}`;
    const bytes = await store.read(fileUrl);
    const metadata = file ? undefined : await readMetadata(store, folderUrl);
    const model = await openOnnxModel(bytes, serving.onnx, fileUrl);
    try {
      return metadata === undefined
        ? userModel(model, identity, fileUrl, bytes.length)
        : await trainedModel(deps, model, folderUrl, metadata, bytes.length);
    } catch (e) {
      await model.dispose();
      throw e;
    }
  };
}

/** One batch through a one-input, one-output model, as class probabilities (a sigmoid unit → two classes). */
async function probabilities(model: ServingModel, batch: ModelBatch): Promise<Probabilities> {
  const input = model.inputs[0];
  const output = model.outputs[0];
  if (input === undefined || output === undefined) throw new InferenceError('the model has no input or no output');
  const feed: HostTensor =
    input.dtype === batch.dtype
      ? { dtype: batch.dtype, shape: batch.shape, data: batch.values }
      : {
          dtype: input.dtype === 'int64' ? 'int64' : input.dtype,
          shape: batch.shape,
          data: convert(batch, input.dtype),
        };
  const answer = (await model.run({ [input.name]: feed }))[output.name];
  if (answer === undefined) throw new InferenceError(`the model gave no output "${output.name}"`);
  const n = batch.shape[0] ?? 0;
  const rows = Float32Array.from(answer.data, Number);
  const per = n === 0 ? 0 : rows.length / n;
  if (per !== 1) return { n, classes: per, values: rows };
  const two = new Float32Array(2 * n);
  rows.forEach((p, i) => two.set([1 - p, p], 2 * i));
  return { n, classes: 2, values: two };
}

function convert(batch: ModelBatch, dtype: HostTensor['dtype']): HostTensor['data'] {
  if (dtype === 'int64') return BigInt64Array.from(batch.values, (v) => BigInt(Math.trunc(v)));
  if (dtype === 'float32') return Float32Array.from(batch.values);
  if (dtype === 'int32') return Int32Array.from(batch.values);
  throw new BadInputError(`the model's input is ${dtype}, which a ${batch.dtype} batch cannot feed`);
}

/** A model Kaskade trained and published: its metadata and API as on TF.js, run by ONNX Runtime. */
async function trainedModel(
  deps: EngineLoaderDeps,
  model: ServingModel,
  folderUrl: string,
  metadata: ModelMetadata,
  bytes: number,
): Promise<ServedModel> {
  const input = model.inputs[0];
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || input === undefined) {
    throw new BadInputError(
      `${folderUrl}${MODEL_ONNX_FILE} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; one of each is served`,
    );
  }
  const expected =
    metadata.input.kind === 'image'
      ? [metadata.input.height, metadata.input.width, metadata.input.channels]
      : [metadata.input.sequenceLength];
  if (input.shape.slice(1).join(',') !== expected.join(',')) {
    throw new BadInputError(
      `${folderUrl}${MODEL_ONNX_FILE} takes [n,${input.shape.slice(1).join(',')}] but ${MODEL_METADATA_FILE} says [n,${expected.join(',')}]`,
    );
  }
  const encodeText = await loadTextEncoder(deps.store, folderUrl, metadata, deps.load?.textEncoder);
  const served: ServedInput = encodeText ? { input: metadata.input, encodeText } : { input: metadata.input };
  const warm =
    metadata.input.kind === 'image'
      ? {
          dtype: 'float32' as const,
          shape: [1, ...expected],
          values: new Float32Array(expected.reduce((a, b) => a * b, 1)),
        }
      : { dtype: 'int32' as const, shape: [1, ...expected], values: new Int32Array(expected[0] ?? 0) };
  await probabilities(model, warm);
  return {
    ...served,
    engine: 'onnx',
    folderUrl,
    version: `${metadata.jobId}-r${metadata.round}`,
    metadata,
    inputs: inputMetadata(served),
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, metadata.labels.length] }],
    bytes,
    predict: (batch) => probabilities(model, batch),
    dispose: () => void model.dispose(),
  };
}

/**
 * A user's own ONNX model: served with its own names, datatypes and shapes. When it looks like an
 * image classifier (one float input [n, h, w, c≤4], one output [n, k]) the web page can draw for it.
 */
function userModel(model: ServingModel, identity: string, fileUrl: string, bytes: number): ServedModel {
  const input = model.inputs[0];
  const output = model.outputs[0];
  const [, h = 0, w = 0, c = 0] = input?.shape ?? [];
  const image =
    model.inputs.length === 1 &&
    input?.dtype === 'float32' &&
    input.shape.length === 4 &&
    h > 0 &&
    w > 0 &&
    c > 0 &&
    c <= 4;
  const classes = model.outputs.length === 1 && output?.shape.length === 2 ? (output.shape[1] ?? 0) : 0;
  const name = fileUrl.split('/').at(-1) ?? fileUrl;
  const metadata: ModelMetadata = {
    format: MODEL_METADATA_FORMAT,
    model: `onnx:${name}`,
    dataset: 'unknown',
    jobId: name.replace(/\.onnx$/, ''),
    round: 1,
    rounds: 1,
    testAccuracy: null,
    testLoss: null,
    createdAt: new Date().toISOString(),
    labels: Array.from({ length: Math.max(classes, 2) }, (_, k) => String(k)),
    input: image
      ? { kind: 'image', height: h, width: w, channels: c, framing: 'object' }
      : {
          kind: 'tokens',
          sequenceLength: Math.max(input?.shape[1] ?? 1, 1),
          vocabularySize: 2 ** 31 - 1,
          padIndex: 0,
          oovIndex: 0,
        },
  };
  const describe = (i: { name: string; datatype: string; shape: readonly number[] }): TensorMetadata => ({
    name: i.name,
    datatype: i.datatype as TensorMetadata['datatype'],
    shape: [...i.shape],
  });
  return {
    input: metadata.input,
    engine: 'onnx',
    folderUrl: identity,
    version: identity.includes('#') ? (identity.split('#')[1] ?? '1') : '1',
    metadata,
    inputs: model.inputs.map(describe),
    outputs: model.outputs.map(describe),
    bytes,
    raw: model,
    predict: (batch) => probabilities(model, batch),
    dispose: () => void model.dispose(),
  };
}
