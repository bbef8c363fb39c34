// The splitter function: registers the `splitter` HTTP handler with the Functions Framework.
// The engine, store and emitter are opened on the first request; the logic is in split.ts.
import { http } from '@google-cloud/functions-framework';
import { httpEmit } from '../../events/emit.js';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { createSplitterHandler } from './handler.js';
import type { SplitterDeps } from './split.js';

const logger = createLogger('splitter');
const config = loadConfig();
let deps: Promise<SplitterDeps> | undefined;
const openDeps = (): Promise<SplitterDeps> => {
  deps ??= initEngine({ logger })
    .then(({ tf }) => ({ tf, store: openStore(config.store), emit: httpEmit(config.emit), logger }))
    .catch((e: unknown) => {
      deps = undefined; // let the next request try again
      throw e;
    });
  return deps;
};

http('splitter', createSplitterHandler(openDeps, config.settings, logger));
