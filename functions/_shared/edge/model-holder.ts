// The model an edge service serves: loaded from MODEL_URI (a folder with model.json, file:// or
// gs://) or, without one, a small built-in model trained at start. Until it is ready the
// readiness probe answers 503, so Knative (and admission's wait for Ready) holds clients back.
import type * as tfjs from '@tensorflow/tfjs';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';

export class ModelHolder<M> {
  private model: M | undefined;
  private failure: Error | undefined;
  readonly loaded: Promise<M>;

  constructor(what: string, load: () => Promise<M>, logger?: Logger) {
    const t0 = performance.now();
    this.loaded = load().then(
      (m) => {
        this.model = m;
        logger?.info(`${what} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return m;
      },
      (e: unknown) => {
        this.failure = e as Error;
        logger?.error(`${what} failed to load: ${(e as Error).message}`);
        throw e;
      },
    );
    this.loaded.catch(() => undefined);
  }

  get ready(): boolean {
    return this.model !== undefined;
  }

  /** The model; UnavailableError (503) while it loads or when loading failed. */
  get(): M {
    if (this.model !== undefined) return this.model;
    if (this.failure !== undefined)
      throw new UnavailableError(`the model failed to load: ${this.failure.message}`, { cause: this.failure });
    throw new UnavailableError('the model is still loading; try again shortly');
  }
}

/** Loads a layers model from a folder URL through the store (its roots apply). */
export async function loadLayersModelFrom(tf: typeof tfjs, store: Store, folderUrl: string): Promise<tfjs.LayersModel> {
  return tf.loadLayersModel(store.modelHandler(folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`));
}

/**
 * A built-in model trained once and kept in the store: the first pod trains and saves it, later
 * pods (a new revision, a scale-up) load it in a moment instead of training again. Training is
 * seeded, so pods that race write the same model, each write atomic. Without a cache folder, or
 * when the saved copy cannot be read, it trains.
 */
export async function cachedBuiltin(
  tf: typeof tfjs,
  store: Store,
  cacheUrl: string | undefined,
  train: () => Promise<tfjs.LayersModel>,
  logger?: Logger,
): Promise<tfjs.LayersModel> {
  if (cacheUrl === undefined) return train();
  const folder = cacheUrl.endsWith('/') ? cacheUrl : `${cacheUrl}/`;
  if (await store.exists(`${folder}model.json`).catch(() => false)) {
    try {
      const model = await loadLayersModelFrom(tf, store, folder);
      logger?.info(`built-in model loaded from ${folder}`);
      return model;
    } catch (e) {
      logger?.warn(`built-in model at ${folder} unreadable, training again: ${(e as Error).message}`);
    }
  }
  const model = await train();
  await model.save(store.modelHandler(folder)).then(
    () => logger?.info(`built-in model saved to ${folder}`),
    (e: unknown) => logger?.warn(`built-in model not saved to ${folder}: ${(e as Error).message}`),
  );
  return model;
}
