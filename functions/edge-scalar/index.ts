// The edge-scalar function: driver identification from CAN-bus windows over WebSocket (the
// exported `upgrade`, which the worker entry wires to the server) or HTTP. See README.md.
import { http } from '@google-cloud/functions-framework';
import { bearerHeaders, loadAuthConfig } from '../_shared/auth.js';
import { LeaseRenewer } from '../_shared/edge/lease-renewer.js';
import { ModelHolder } from '../_shared/edge/model-holder.js';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { loadStoreConfig, openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { loadDriverClassifier } from './model-source.js';
import { createScalarService } from './service.js';

const logger = createLogger('edge-scalar');
const config = loadConfig();
const serving = loadServingConfig();
const storeConfig = loadStoreConfig();
const store = openStore(storeConfig);
const { tf } = await initEngine({ logger });
const model = new ModelHolder(
  'driver model',
  () => loadDriverClassifier(tf, config, store, logger, storeConfig.roots[0], serving),
  logger,
);
const renewer = new LeaseRenewer({
  admissionUrl: config.admissionUrl,
  type: 'scalar',
  headers: bearerHeaders(loadAuthConfig()),
  logger,
});
const service = createScalarService({ model, renewer, maxWindowBytes: config.maxWindowBytes, logger });

http('edge-scalar', service.handler);

export const upgrade = service.upgrade;
