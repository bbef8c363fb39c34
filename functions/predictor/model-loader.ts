// Finding and loading the published model: the `LATEST` pointer names a model folder; the
// folder holds TF.js layers artifacts (model.json + weights) and kaskade.json. A model is only
// handed out once it is complete, checked against its metadata, and warmed up.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, NotFoundError, TimeoutError } from '../_shared/errors.js';
import {
  MODEL_METADATA_FILE,
  MODEL_METADATA_KEY,
  decodeModelMetadata,
  parseModelMetadata,
  type ModelMetadata,
  type TokensInput,
} from '../_shared/models/metadata.js';
import { LATEST, readLatest, type Store } from '../_shared/store/index.js';
import type { ServingEngineName, ServingModel } from '../_shared/serving/types.js';
import { inputMetadata, type ServedInput, type TensorMetadata, type TextEncoderFn } from './tensor-input.js';
import { predictProbabilities, type Probabilities, type TF } from './run-model.js';
import type { ModelBatch } from './tensor-input.js';

/**
 * A model ready to serve; `dispose()` frees its weights. This is the seam between serving and
 * the engine that runs a model: the TF.js loader below makes one, and another engine (ONNX
 * Runtime, say) only has to make the same object (`predict` answering class probabilities).
 */
export interface ServedModel extends ServedInput {
  /** Folder URL the model came from: its identity (a new folder is a new model). */
  readonly folderUrl: string;
  /** Version name in the v2 API: `<jobId>-r<round>`. */
  readonly version: string;
  readonly metadata: ModelMetadata;
  /** What runs it: TF.js, or ONNX Runtime (functions/predictor/onnx-loader.ts). */
  readonly engine: ServingEngineName;
  /** The TF.js model, when TF.js runs it. */
  readonly model?: tfjs.LayersModel;
  /** A user's own ONNX model: the APIs take and answer its own named tensors. */
  readonly raw?: ServingModel;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  /** Bytes of weights it holds in memory: what the predictor's memory budget counts. */
  readonly bytes: number;
  /** Runs one validated batch; answers `[n, labels]` probabilities. */
  predict(batch: ModelBatch): Promise<Probabilities>;
  dispose(): void;
}

/** Loads the model in a published folder (complete, checked, warmed up) or throws, leaking nothing. */
export type ModelLoader = (folderUrl: string) => Promise<ServedModel>;

/** Builds the text encoder of a token model from its vocabulary file's bytes. */
export type TextEncoderFactory = (vocabulary: Uint8Array, input: TokensInput) => TextEncoderFn;

export interface LoadOptions {
  /** Turns a vocabulary file into a text encoder; without it, token models take ids only. */
  textEncoder?: TextEncoderFactory;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//;

/**
 * The folder URL a pointer's text names: an absolute URL as is, a relative path against the
 * pointer's folder. Always ends with `/`.
 */
export function resolvePointer(text: string, prefixUrl: string): string {
  const target = text.trim();
  if (target === '') throw new BadInputError(`the model pointer under ${prefixUrl} is empty`);
  if (!SCHEME.test(target) && target.split('/').includes('..'))
    throw new BadInputError(`the model pointer under ${prefixUrl} leaves its folder: "${target}"`);
  const url = SCHEME.test(target)
    ? target
    : new URL(target, prefixUrl.endsWith('/') ? prefixUrl : `${prefixUrl}/`).href;
  return url.endsWith('/') ? url : `${url}/`;
}

/** Reads the prefix's LATEST pointer and answers the published model folder; NotFoundError if nothing is published yet. */
export async function readPublished(store: Store, prefixUrl: string): Promise<string> {
  const pointer = await readLatest(store, prefixUrl);
  if (pointer === undefined) throw new NotFoundError(`nothing is published under ${prefixUrl} (no ${LATEST})`);
  return resolvePointer(pointer, prefixUrl);
}

/** A model TF.js runs. */
export type TfjsServedModel = ServedModel & { readonly model: tfjs.LayersModel };

/** Loads, checks and warms up the model in `folderUrl`. Nothing leaks if any step fails. */
export async function loadServedModel(
  tf: TF,
  store: Store,
  folderUrl: string,
  options: LoadOptions = {},
): Promise<TfjsServedModel> {
  const fileMetadata = await readMetadataFile(store, folderUrl);
  const model = await tf.loadLayersModel(store.modelHandler(folderUrl));
  try {
    const metadata = fileMetadata ?? embeddedMetadata(model, folderUrl);
    checkModelFitsMetadata(model, metadata, folderUrl);
    const encodeText = await loadTextEncoder(store, folderUrl, metadata, options.textEncoder);
    const served: ServedInput = encodeText ? { input: metadata.input, encodeText } : { input: metadata.input };
    warmUp(tf, model, metadata);
    return {
      ...served,
      folderUrl,
      version: `${metadata.jobId}-r${metadata.round}`,
      metadata,
      engine: 'tfjs',
      model,
      inputs: inputMetadata(served),
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, metadata.labels.length] }],
      bytes: model.weights.reduce((sum, w) => sum + w.shape.reduce<number>((n, d) => n * (d ?? 1), 1) * 4, 0),
      predict: (batch) => predictProbabilities(tf, model, batch),
      dispose: () => model.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Runs `promise` with a deadline (TimeoutError naming `what`). A result that arrives after the
 * deadline is handed to `onLate` (to dispose a model nobody will serve).
 */
export async function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onLate?: (late: T) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new TimeoutError(`${what} did not finish within ${ms} ms`));
    }, ms);
  });
  promise.then(
    (late) => {
      if (timedOut) onLate?.(late);
    },
    () => undefined,
  );
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readMetadataFile(store: Store, folderUrl: string): Promise<ModelMetadata | undefined> {
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

function embeddedMetadata(model: tfjs.LayersModel, folderUrl: string): ModelMetadata {
  const embedded: unknown = model.getUserDefinedMetadata();
  const value =
    embedded !== null && typeof embedded === 'object'
      ? (embedded as Record<string, unknown>)[MODEL_METADATA_KEY]
      : undefined;
  if (value === undefined) {
    throw new BadInputError(
      `model ${folderUrl} has no ${MODEL_METADATA_FILE} and no userDefinedMetadata.${MODEL_METADATA_KEY} in model.json`,
    );
  }
  return parseModelMetadata(value, `${folderUrl}model.json userDefinedMetadata.${MODEL_METADATA_KEY}`);
}

/** The artifact must take the input its metadata describes and have one output per label. */
function checkModelFitsMetadata(model: tfjs.LayersModel, metadata: ModelMetadata, folderUrl: string): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new BadInputError(
      `model ${folderUrl} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; one of each is served`,
    );
  }
  const input = metadata.input;
  const expected = input.kind === 'image' ? [input.height, input.width, input.channels] : [input.sequenceLength];
  const actual = model.inputs[0]?.shape.slice(1) ?? [];
  if (actual.join(',') !== expected.join(',')) {
    throw new BadInputError(
      `model ${folderUrl} takes [n,${actual.join(',')}] but ${MODEL_METADATA_FILE} says [n,${expected.join(',')}]`,
    );
  }
  const units = model.outputs[0]?.shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1) ?? 0;
  const labels = metadata.labels.length;
  if (!(units === labels || (units === 1 && labels === 2))) {
    throw new BadInputError(`model ${folderUrl} has ${units} output units but ${labels} labels`);
  }
}

export async function loadTextEncoder(
  store: Store,
  folderUrl: string,
  metadata: ModelMetadata,
  factory: TextEncoderFactory | undefined,
): Promise<TextEncoderFn | undefined> {
  const input = metadata.input;
  if (input.kind !== 'tokens' || input.vocabularyFile === undefined || factory === undefined) return undefined;
  if (input.vocabularyFile.includes('/') || input.vocabularyFile.includes('..')) {
    throw new BadInputError(`vocabularyFile must be a file name beside model.json, got "${input.vocabularyFile}"`);
  }
  return factory(await store.read(`${folderUrl}${input.vocabularyFile}`), input);
}

/** One prediction on zeros, so the first client request does not pay for kernel setup. */
function warmUp(tf: TF, model: tfjs.LayersModel, metadata: ModelMetadata): void {
  const input = metadata.input;
  tf.tidy(() => {
    const x =
      input.kind === 'image'
        ? tf.zeros([1, input.height, input.width, input.channels])
        : tf.zeros([1, input.sequenceLength], 'int32');
    model.predict(x);
  });
}
