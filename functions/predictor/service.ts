// Assembling the predictor from its parts: registry (fed by the store), the watcher that loads
// at start and polls, the event handler, and the HTTP handler. index.ts calls this with the
// real store; tests call it with a temp-folder store.
import type { Server } from 'node:http';
import type { Engine } from '../_shared/engine/index.js';
import type { Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import type { Store } from '../_shared/store/types.js';
import { createPredictorHandler } from './app.js';
import { Batcher } from './batcher.js';
import { limitRequestBodies } from './body-limit.js';
import type { PredictorConfig } from './config.js';
import { ModelEventHandler } from './model-events.js';
import { loadServedModel, readPublished, withDeadline, type LoadOptions, type ServedModel } from './model-loader.js';
import { ModelRegistry } from './model-registry.js';
import { watchPublished, type Watch } from './model-watch.js';
import { bundlePage } from './page.js';
import { predictProbabilities } from './run-model.js';

export interface PredictorParts {
  config: PredictorConfig;
  store: Store;
  engine: Engine;
  logger: Logger;
  load?: LoadOptions;
}

export interface Predictor {
  readonly handler: Handler;
  readonly registry: ModelRegistry<ServedModel>;
  readonly watch: Watch;
  readonly batcher: Batcher<ServedModel>;
  /** Settles when start-up has finished (the first model load attempt and the page bundle); then the pod is ready. */
  readonly startUp: Promise<void>;
  /**
   * Prepares the HTTP server that serves `handler` (before it listens): puts the body limit in
   * front of the Functions Framework's body parsers.
   */
  prepareServer(server: Server): void;
  /** Stops polling and frees the model once in-flight requests finish. */
  close(): void;
}

export function startPredictor(parts: PredictorParts): Predictor {
  const { config, store, engine, logger } = parts;
  const registry = new ModelRegistry<ServedModel>({
    resolve: () => withDeadline(readPublished(store, config.modelPrefixUrl), config.loadTimeoutMs, `reading ${config.pointerUrl}`),
    load: (folderUrl) =>
      withDeadline(loadServedModel(engine.tf, store, folderUrl, parts.load), config.loadTimeoutMs, `loading the model in ${folderUrl}`, (late) => late.dispose()),
  });
  const events = new ModelEventHandler(registry, logger);
  const batcher = new Batcher<ServedModel>({
    maxBatchSize: config.batchMaxSize,
    maxLatencyMs: config.batchMaxLatencyMs,
    run: (served, batch) => predictProbabilities(engine.tf, served.model, batch),
  });
  const page = bundlePage();
  page.catch((e: unknown) => logger.error(`the web page cannot be served: ${(e as Error).message}`));
  let started = false;
  const handler = createPredictorHandler({ config, registry, batcher, events, logger, page, started: () => started });
  logger.info(`serving model "${config.modelName}" from ${config.pointerUrl} (poll every ${config.pollMs / 1000} s; batches of up to ${config.batchMaxSize} instances, waiting at most ${config.batchMaxLatencyMs} ms)`);
  const watch = watchPublished(registry, { pollMs: config.pollMs, retryMs: config.retryMs, logger });
  const startUp = Promise.allSettled([watch.firstAttempt, page]).then(() => {
    started = true;
  });
  return {
    startUp,
    handler,
    registry,
    watch,
    batcher,
    prepareServer: (server) => limitRequestBodies(server, config.maxBodyBytes),
    close: () => {
      watch.stop();
      registry.close();
    },
  };
}
