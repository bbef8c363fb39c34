// The splitter function: registers the `splitter` HTTP handler with the Functions Framework.
// The engine, store and emitter are opened on the first request; the logic is in split.ts.
import { http } from '@google-cloud/functions-framework';
import { lazyDeps } from '../../events/function-deps.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createSplitterHandler } from './handler.js';

const logger = createLogger('splitter');
const config = loadConfig();

http('splitter', createSplitterHandler(lazyDeps(config, logger), config.settings, logger));
