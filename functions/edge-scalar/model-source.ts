// Where the served driver model comes from: MODEL_URI when set, else the built-in model trained
// at start on the generated driving data (seeded: every pod trains the same model).
import type * as tfjs from '@tensorflow/tfjs';
import { loadLayersModelFrom } from '../_shared/edge/model-holder.js';
import type { Logger } from '../_shared/log.js';
import type { Store } from '../_shared/store/index.js';
import type { ScalarConfig } from './config.js';
import { generateDrivingWindows } from './driving-data.js';
import { DriverClassifier, trainDriverModel } from './driver-model.js';

export async function loadDriverClassifier(tf: typeof tfjs, config: ScalarConfig, store: Store, logger?: Logger): Promise<DriverClassifier> {
  if (config.modelUri !== undefined) {
    logger?.info(`loading the driver model from ${config.modelUri}`);
    return new DriverClassifier(tf, await loadLayersModelFrom(tf, store, config.modelUri));
  }
  logger?.info(`no MODEL_URI: training the built-in driver model (${config.builtinWindows} windows per driver, ${config.builtinEpochs} epochs)`);
  const { model, accuracy } = await trainDriverModel(tf, generateDrivingWindows(config.builtinWindows, 1), { epochs: config.builtinEpochs, units: 16 });
  logger?.info(`built-in driver model: training accuracy ${accuracy.toFixed(3)}`);
  return new DriverClassifier(tf, model);
}
