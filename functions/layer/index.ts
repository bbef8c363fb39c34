// The layer function: one generic service, deployed once per layer of a pipeline with its type
// and config in `LAYER_TYPE` / `LAYER_CONFIG`. Registers the `layer` HTTP handler; the engine and
// store open on the first request. The logic is in handler.ts, layer-job.ts and registry.ts.
import { http } from '@google-cloud/functions-framework';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { lazyLayerDeps } from './deps.js';
import { createLayerHandler } from './handler.js';

const logger = createLogger('layer');
const config = loadConfig();

http('layer', createLayerHandler(lazyLayerDeps(config, logger), logger));
