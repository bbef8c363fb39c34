// The split-proxy function: registers the `split-proxy` HTTP handler with the Functions
// Framework (a traffic-shaping forwarder between split-half A and B).
import { http } from '@google-cloud/functions-framework';
import { bearerHeaders, loadAuthConfig } from '../_shared/auth.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { createProxyHandler } from './proxy.js';

const config = loadConfig();
const logger = createLogger('split-proxy');
http('split-proxy', createProxyHandler({ config, logger, callHeaders: bearerHeaders(loadAuthConfig()) }));
