// The layer function: one generic service, deployed once per layer of a pipeline with its type
// and config in `LAYER_TYPE` / `LAYER_CONFIG`. Registers the `layer` HTTP handler; the engine and
// store open on the first request. The logic is in handler.ts, layer-job.ts and registry.ts.
import { http } from '@google-cloud/functions-framework';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { createLayerHandler, type LayerDeps } from './handler.js';
import { LayerRegistry } from './registry.js';

const logger = createLogger('layer');
const config = loadConfig();

let deps: Promise<LayerDeps> | undefined;
const openDeps = (): Promise<LayerDeps> => {
  deps ??= initEngine({ logger })
    .then(({ tf }) => ({
      tf,
      logger,
      registry: new LayerRegistry(tf, openStore(config.store), { spec: config.spec, entry: config.entry, stateUrl: config.stateUrl, maxBytes: config.maxBytes }),
    }))
    .catch((e: unknown) => {
      deps = undefined;
      throw e;
    });
  return deps;
};

http('layer', createLayerHandler(openDeps, logger));
