// The aggregator function: registers the `aggregator` HTTP handler with the Functions
// Framework. The engine, store and emitter are opened on the first request; the logic is in
// collect.ts (arrivals, rounds), aggregate.ts (averaging, evaluation, next round), publish.ts,
// dead-letter.ts and jobs.ts.
import { http } from '@google-cloud/functions-framework';
import { httpEmit } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import type { AggregatorDeps } from './aggregate.js';
import { loadConfig } from './config.js';
import { createAggregatorHandler } from './handler.js';

const logger = createLogger('aggregator');
const config = loadConfig();
let deps: Promise<AggregatorDeps> | undefined;
const openDeps = (): Promise<AggregatorDeps> => {
  deps ??= initEngine({ logger })
    .then(({ tf }) => ({ tf, store: openStore(config.store), emit: httpEmit(config.emit), logger }))
    .catch((e: unknown) => {
      deps = undefined; // let the next request try again
      throw e;
    });
  return deps;
};

http('aggregator', createAggregatorHandler(openDeps, config.settings, logger));
