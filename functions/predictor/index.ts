// The predictor function: serves the newest published model over the Open Inference Protocol
// v2 and KServe v1, with a web page at `/`, and reloads when `dev.kaskade.model.aggregated`
// (final round) arrives as a CloudEvent POST to `/events` (or `/`). See README.md.
// This file only wires the parts together, registers the handler and exports `prepareServer`
// (the body limit, which the worker entry installs in front of the framework); the logic lives beside it.
import type { Server } from 'node:http';
import { http } from '@google-cloud/functions-framework';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { loadStoreConfig, openStore } from '../_shared/store/index.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { loadConfig } from './config.js';
import { PAGE_PATHS } from './page.js';
import { startPredictor } from './service.js';
import { reviewTextEncoder } from './text-encoder.js';

const logger = createLogger('predictor');
const config = loadConfig();
const store = openStore(loadStoreConfig());
const engine = await initEngine({ logger });
const serving = loadServingConfig();
const predictor = startPredictor({ config, store, engine, logger, serving, load: { textEncoder: reviewTextEncoder } });

http('predictor', predictor.handler);

/** The worker entry calls this on the HTTP server before it listens: the body limit goes in front of the framework's parsers. */
export const prepareServer = (server: Server): void => predictor.prepareServer(server);

/** The predictor emits no event while serving: its process runs without the async trace context. */
export const traceContext = 'request';

/** With auth on, the web page itself is served without a token; its API calls still need one (the page asks for it). */
export const openPaths = PAGE_PATHS;
