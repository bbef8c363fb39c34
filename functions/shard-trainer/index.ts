// The shard trainer function: registers the `shard-trainer` HTTP handler with the Functions
// Framework (containerConcurrency 1: one shard per worker). The engine, store and emitter are
// opened on the first request; the logic is in train-shard.ts.
import { http } from '@google-cloud/functions-framework';
import { httpEmit } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { createTrainerHandler } from './handler.js';
import type { TrainerDeps } from './train-shard.js';

const logger = createLogger('shard-trainer');
const config = loadConfig();
let deps: Promise<TrainerDeps> | undefined;
const openDeps = (): Promise<TrainerDeps> => {
  deps ??= initEngine({ logger })
    .then(({ tf }) => ({ tf, store: openStore(config.store), emit: httpEmit(config.emit), logger }))
    .catch((e: unknown) => {
      deps = undefined; // let the next request try again
      throw e;
    });
  return deps;
};

http('shard-trainer', createTrainerHandler(openDeps, config.settings, logger));
