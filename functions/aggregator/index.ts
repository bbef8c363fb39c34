// The aggregator function: registers the `aggregator` HTTP handler with the Functions
// Framework. The engine, store and emitter are opened on the first request; the logic is in
// collect.ts (arrivals, rounds), aggregate.ts (averaging, evaluation, next round), publish.ts,
// dead-letter.ts and jobs.ts.
import { http } from '@google-cloud/functions-framework';
import { lazyDeps } from '../../events/function-deps.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createAggregatorHandler } from './handler.js';

const logger = createLogger('aggregator');
const config = loadConfig();

http('aggregator', createAggregatorHandler(lazyDeps(config, logger), config.settings, logger));
