// Where the served driver model comes from: MODEL_URI when set, else the built-in model trained
// once on the generated driving data (seeded: every pod would train the same model) and kept in
// the store under `<first storage root>/edge/builtin/`, so later pods load it.
import type * as tfjs from '@tensorflow/tfjs';
import { cachedBuiltin, loadLayersModelFrom } from '../_shared/edge/model-holder.js';
import type { Logger } from '../_shared/log.js';
import { joinStoreUrl, type Store } from '../_shared/store/index.js';
import type { ScalarConfig } from './config.js';
import { generateDrivingWindows } from './driving-data.js';
import { InferenceError } from '../_shared/errors.js';
import type { ServingConfig } from '../_shared/serving/config.js';
import { DriverClassifier, trainDriverModel } from './driver-model.js';

export async function loadDriverClassifier(
  tf: typeof tfjs,
  config: ScalarConfig,
  store: Store,
  logger?: Logger,
  cacheRoot?: string,
  serving?: ServingConfig,
): Promise<DriverClassifier> {
  const model = await loadLayers(tf, config, store, logger, cacheRoot);
  const tfjsClassifier = new DriverClassifier(tf, model);
  const setting = serving?.engine ?? 'tfjs';
  if (setting === 'tfjs' || serving === undefined) {
    logger?.info('serving engine: tfjs for the driver model');
    return tfjsClassifier;
  }
  // ONNX Runtime by default (auto); TF.js keeps serving when the export fails, unless onnx was forced.
  try {
    const copy = await tf.loadLayersModel(tf.io.fromMemory(await artifactsOf(tf, model)));
    const onnx = await DriverClassifier.onOnnx(copy, serving.onnx);
    logger?.info(
      `serving engine: onnx for the driver model (${setting}; ${serving.onnx.intraOpThreads} intra-op thread(s))`,
    );
    tfjsClassifier.dispose();
    return onnx;
  } catch (e) {
    if (setting === 'onnx') throw e;
    logger?.warn(`serving engine: tfjs for the driver model (auto: the ONNX export failed: ${(e as Error).message})`);
    return tfjsClassifier;
  }
}

async function artifactsOf(tf: typeof tfjs, model: tfjs.LayersModel): Promise<tfjs.io.ModelArtifacts> {
  let artifacts: tfjs.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      artifacts = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (artifacts === undefined) throw new InferenceError('the driver model could not be copied');
  return artifacts;
}

async function loadLayers(
  tf: typeof tfjs,
  config: ScalarConfig,
  store: Store,
  logger?: Logger,
  cacheRoot?: string,
): Promise<tfjs.LayersModel> {
  if (config.modelUri !== undefined) {
    logger?.info(`loading the driver model from ${config.modelUri}`);
    return loadLayersModelFrom(tf, store, config.modelUri);
  }
  const cacheUrl =
    cacheRoot === undefined
      ? undefined
      : joinStoreUrl(cacheRoot, 'edge', 'builtin', `scalar-w${config.builtinWindows}-e${config.builtinEpochs}`);
  return cachedBuiltin(
    tf,
    store,
    cacheUrl,
    async () => {
      logger?.info(
        `no MODEL_URI: training the built-in driver model (${config.builtinWindows} windows per driver, ${config.builtinEpochs} epochs)`,
      );
      const trained = await trainDriverModel(tf, generateDrivingWindows(config.builtinWindows, 1), {
        epochs: config.builtinEpochs,
        units: 16,
      });
      logger?.info(`built-in driver model: training accuracy ${trained.accuracy.toFixed(3)}`);
      return trained.model;
    },
    logger,
  );
}
