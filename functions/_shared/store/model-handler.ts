// A TF.js IOHandler over any Store: `model.save(handler)` / `tf.loadLayersModel(handler)` for a
// layers model kept as model.json + weight shards under a folder URL (file:// or gs://).
// Shards are written first and model.json last, each atomically, and shard names carry a hash
// of the weights: a reader that sees a model.json always finds the very shards it names, even
// while the folder is being re-saved.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../errors.js';
import type { Store } from './types.js';
import { RESERVED_PREFIX, joinStoreUrl } from './url.js';

export interface ModelHandlerOptions {
  /** Largest model.json accepted on load (default 64 MiB). */
  maxModelJsonBytes?: number;
  /** Largest total of weight shards accepted on load (default 2 GiB). */
  maxWeightBytes?: number;
  /** Weight shard size on save (default 4 MiB, as the TF.js converter writes). */
  shardBytes?: number;
}

export const MODEL_JSON = 'model.json';

const BYTES_PER_DTYPE: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

export function createModelHandler(
  store: Pick<Store, 'read' | 'write'>,
  folderUrl: string,
  options: ModelHandlerOptions = {},
): tf.io.IOHandler {
  const maxModelJsonBytes = options.maxModelJsonBytes ?? 64 * 1024 * 1024;
  const maxWeightBytes = options.maxWeightBytes ?? 2 * 1024 * 1024 * 1024;
  const shardBytes = options.shardBytes ?? 4 * 1024 * 1024;
  const at = (name: string): string => joinStoreUrl(folderUrl, name);

  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const topology = artifacts.modelTopology;
      if (topology === undefined || topology instanceof ArrayBuffer)
        throw new BadInputError('only layers models (a JSON topology) can be saved');
      const weights =
        artifacts.weightData === undefined
          ? new Uint8Array(0)
          : new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const shards = splitShards(weights, shardBytes);
      const tag = createHash('sha256').update(weights).digest('hex').slice(0, 16);
      const paths = shards.map((_, i) => `weights-${tag}-shard${i + 1}of${shards.length}.bin`);
      await Promise.all(
        shards.map((shard, i) => store.write(at(paths[i] ?? ''), shard, { contentType: 'application/octet-stream' })),
      );
      const modelJson = toModelJson(artifacts, topology, [{ paths, weights: artifacts.weightSpecs ?? [] }]);
      await store.write(at(MODEL_JSON), new TextEncoder().encode(JSON.stringify(modelJson)), {
        contentType: 'application/json',
      });
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJson = parseModelJson(
        await store.read(at(MODEL_JSON), { maxBytes: maxModelJsonBytes }),
        at(MODEL_JSON),
      );
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = tf.io.getWeightSpecs(manifest);
        const paths = manifest.flatMap((group) => group.paths);
        const shards = await Promise.all(paths.map((path) => store.read(at(path), { maxBytes: maxWeightBytes })));
        const total = shards.reduce((sum, shard) => sum + shard.byteLength, 0);
        const expected = expectedWeightBytes(specs);
        if (total > maxWeightBytes)
          throw new BadInputError(`${folderUrl}: weights of ${total} bytes exceed the limit of ${maxWeightBytes}`);
        if (expected !== undefined && expected !== total) {
          throw new BadInputError(`${folderUrl}: weight shards hold ${total} bytes, the manifest needs ${expected}`);
        }
        return [specs, shards.map(ownArrayBuffer)];
      });
    },
  };
}

/** model.json as TF.js writes it: the artifacts without their weights, plus the manifest. */
function toModelJson(
  artifacts: tf.io.ModelArtifacts,
  modelTopology: object,
  weightsManifest: tf.io.WeightsManifestConfig,
): tf.io.ModelJSON {
  const {
    trainingConfig,
    format,
    generatedBy,
    convertedBy,
    signature,
    userDefinedMetadata,
    modelInitializer,
    initializerSignature,
  } = artifacts;
  const optional = {
    trainingConfig,
    format,
    generatedBy,
    convertedBy,
    signature,
    userDefinedMetadata,
    modelInitializer,
    initializerSignature,
  };
  return {
    modelTopology,
    weightsManifest,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

function splitShards(weights: Uint8Array, shardBytes: number): Uint8Array[] {
  const shards: Uint8Array[] = [];
  for (let offset = 0; offset < weights.length; offset += shardBytes)
    shards.push(weights.subarray(offset, offset + shardBytes));
  return shards;
}

/** model.json from storage is checked before TF.js sees it: shapes of fields, and shard names that stay in the folder. */
function parseModelJson(bytes: Uint8Array, url: string): tf.io.ModelJSON {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new BadInputError(`${url} is not valid JSON`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new BadInputError(`${url} is not a JSON object`);
  const { modelTopology, weightsManifest } = parsed as Record<string, unknown>;
  if (typeof modelTopology !== 'object' || modelTopology === null)
    throw new BadInputError(`${url} has no modelTopology`);
  if (!Array.isArray(weightsManifest)) throw new BadInputError(`${url} has no weightsManifest list`);
  for (const group of weightsManifest as unknown[]) {
    const { paths, weights } = (group ?? {}) as Record<string, unknown>;
    if (!Array.isArray(paths) || !Array.isArray(weights))
      throw new BadInputError(`${url}: a weightsManifest group lacks paths or weights`);
    for (const path of paths as unknown[]) {
      if (
        typeof path !== 'string' ||
        !/^[^/\\]+$/.test(path) ||
        path === '.' ||
        path === '..' ||
        path.startsWith(RESERVED_PREFIX)
      ) {
        throw new BadInputError(`${url}: weight path ${JSON.stringify(path)} is not a file name in the model folder`);
      }
    }
  }
  return parsed as tf.io.ModelJSON;
}

/** Bytes the manifest's weights occupy; undefined when a string weight makes it unknowable up front. */
function expectedWeightBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const width = BYTES_PER_DTYPE[dtype];
    if (width === undefined) return undefined;
    total += spec.shape.reduce((product, dim) => product * dim, 1) * width;
  }
  return total;
}

/** An ArrayBuffer holding exactly these bytes (no copy when the view already spans its buffer). */
function ownArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer)
    return bytes.buffer;
  return bytes.slice().buffer;
}
