// Where the served driver model comes from: MODEL_URI when set, else the built-in model trained
// once on the generated driving data (seeded: every pod would train the same model) and kept in
// the store under `<first storage root>/edge/builtin/`, so later pods load it.
import type * as tfjs from '@tensorflow/tfjs';
import { cachedBuiltin, loadLayersModelFrom } from '../_shared/edge/model-holder.js';
import type { Logger } from '../_shared/log.js';
import { joinStoreUrl, type Store } from '../_shared/store/index.js';
import type { ScalarConfig } from './config.js';
import { generateDrivingWindows } from './driving-data.js';
import { DriverClassifier, trainDriverModel } from './driver-model.js';

export async function loadDriverClassifier(tf: typeof tfjs, config: ScalarConfig, store: Store, logger?: Logger, cacheRoot?: string): Promise<DriverClassifier> {
  if (config.modelUri !== undefined) {
    logger?.info(`loading the driver model from ${config.modelUri}`);
    return new DriverClassifier(tf, await loadLayersModelFrom(tf, store, config.modelUri));
  }
  const cacheUrl = cacheRoot === undefined ? undefined : joinStoreUrl(cacheRoot, 'edge', 'builtin', `scalar-w${config.builtinWindows}-e${config.builtinEpochs}`);
  const model = await cachedBuiltin(tf, store, cacheUrl, async () => {
    logger?.info(`no MODEL_URI: training the built-in driver model (${config.builtinWindows} windows per driver, ${config.builtinEpochs} epochs)`);
    const trained = await trainDriverModel(tf, generateDrivingWindows(config.builtinWindows, 1), { epochs: config.builtinEpochs, units: 16 });
    logger?.info(`built-in driver model: training accuracy ${trained.accuracy.toFixed(3)}`);
    return trained.model;
  }, logger);
  return new DriverClassifier(tf, model);
}
