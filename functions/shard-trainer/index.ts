// The shard trainer function: registers the `shard-trainer` HTTP handler with the Functions
// Framework (containerConcurrency 1: one shard per worker). The engine, store and emitter are
// opened on the first request; the logic is in train-shard.ts.
import { http } from '@google-cloud/functions-framework';
import { lazyDeps } from '../../events/function-deps.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createTrainerHandler } from './handler.js';

const logger = createLogger('shard-trainer');
const config = loadConfig();

http('shard-trainer', createTrainerHandler(lazyDeps(config, logger), config.settings, logger));
