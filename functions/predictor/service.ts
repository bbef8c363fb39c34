// Assembling the predictor from its parts: the repository of published models (fed by the
// store), the watcher that loads at start and polls, the event handler, the page bundle and the
// HTTP handler. index.ts calls this with the real store; tests call it with a temp-folder store.
import type { Server } from 'node:http';
import type { Engine } from '../_shared/engine/index.js';
import type { Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import type { Store } from '../_shared/store/types.js';
import { createPredictorHandler } from './app.js';
import { Batcher } from './batcher.js';
import { limitRequestBodies } from './body-limit.js';
import type { PredictorConfig } from './config.js';
import { measuredLoader, recordBatch } from './metrics.js';
import { ModelEventHandler } from './model-events.js';
import type { ServingConfig } from '../_shared/serving/config.js';
import type { LoadOptions, ModelLoader, ServedModel } from './model-loader.js';
import { ModelRepository } from './model-repository.js';
import { engineLoader } from './onnx-loader.js';
import { watchModels, type Watch } from './model-watch.js';
import { bundlePage } from './page.js';
import { publishedModels } from './published-models.js';

export interface PredictorParts {
  config: PredictorConfig;
  store: Store;
  engine: Engine;
  logger: Logger;
  load?: LoadOptions;
  /** Which engine runs each model (ONNX Runtime when it has an ONNX form, by default) and its settings. */
  serving: ServingConfig;
  /** Loads one published model folder; default: the engine loader (functions/predictor/onnx-loader.ts). */
  loader?: ModelLoader;
}

export interface Predictor {
  readonly handler: Handler;
  readonly repository: ModelRepository;
  readonly watch: Watch;
  readonly batcher: Batcher<ServedModel>;
  /** Settles when start-up has finished (the first model load attempt and the page bundle); then the pod is ready. */
  readonly startUp: Promise<void>;
  /**
   * Prepares the HTTP server that serves `handler` (before it listens): puts the body limit in
   * front of the Functions Framework's body parsers.
   */
  prepareServer(server: Server): void;
  /** Stops polling and frees every model once in-flight requests finish. */
  close(): void;
}

export function startPredictor(parts: PredictorParts): Predictor {
  const { config, store, engine, logger } = parts;
  const loader = measuredLoader(
    parts.loader ??
      engineLoader({
        tf: engine.tf,
        store,
        serving: parts.serving,
        logger,
        ...(parts.load ? { load: parts.load } : {}),
      }),
  );
  const repository = new ModelRepository({
    published: publishedModels(store, config.source, loader, config.loadTimeoutMs),
    memoryBudgetBytes: config.memoryBudgetBytes,
    idleUnloadMs: config.idleUnloadMs,
    logger,
  });
  const events = new ModelEventHandler(repository, config.loadAt, logger);
  const batcher = new Batcher<ServedModel>({
    maxBatchSize: config.batchMaxSize,
    maxLatencyMs: config.batchMaxLatencyMs,
    run: (served, batch) => {
      recordBatch(served, batch.shape[0] ?? 1);
      return served.predict(batch);
    },
  });
  const page = bundlePage();
  page.catch((e: unknown) => logger.error(`the web page cannot be served: ${(e as Error).message}`));
  let started = false;
  const handler = createPredictorHandler({ config, repository, batcher, events, logger, page, started: () => started });
  logger.info(describe(config));
  const watch = watchModels(repository, {
    loadAt: config.loadAt,
    pollMs: config.pollMs,
    retryMs: config.retryMs,
    idleUnloadMs: config.idleUnloadMs,
    logger,
  });
  const startUp = Promise.allSettled([watch.firstAttempt, page]).then(() => {
    started = true;
  });
  return {
    handler,
    repository,
    watch,
    batcher,
    startUp,
    prepareServer: (server) => limitRequestBodies(server, config.maxBodyBytes),
    close: () => {
      watch.stop();
      repository.close();
    },
  };
}

function describe(config: PredictorConfig): string {
  const source = config.source;
  const where =
    source.kind === 'many'
      ? `every <name>/LATEST under ${source.modelsUrl}`
      : source.kind === 'file'
        ? `"${source.name}" from ${source.fileUrl}`
        : `"${source.name}" from ${source.prefixUrl}LATEST`;
  const poll = config.pollMs > 0 ? `poll every ${config.pollMs / 1000} s` : 'events only';
  const idle = config.idleUnloadMs > 0 ? `unload after ${config.idleUnloadMs / 1000} s idle` : 'never idle-unloaded';
  return `serving ${where} (load at ${config.loadAt}; ${poll}; ${idle}; memory budget ${Math.round(config.memoryBudgetBytes / 1048576)} MiB; batches of up to ${config.batchMaxSize} instances, waiting at most ${config.batchMaxLatencyMs} ms)`;
}
