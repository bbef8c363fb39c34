// The edge-image function: top-5 classes of an image from a MobileNet, over HTTP or a WebSocket
// (the exported `upgrade`, which the worker entry wires to the server). See README.md.
import { http } from '@google-cloud/functions-framework';
import { bearerHeaders, loadAuthConfig } from '../_shared/auth.js';
import { LeaseRenewer } from '../_shared/edge/lease-renewer.js';
import { ModelHolder } from '../_shared/edge/model-holder.js';
import { initEngine } from '../_shared/engine/index.js';
import { createLogger } from '../_shared/log.js';
import { loadServingConfig } from '../_shared/serving/config.js';
import { loadStoreConfig, openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { loadImageModel } from './model-source.js';
import { createImageService } from './service.js';

const logger = createLogger('edge-image');
const config = loadConfig();
const serving = loadServingConfig();
const storeConfig = loadStoreConfig();
const store = openStore(storeConfig);
const { tf } = await initEngine({ logger });
const model = new ModelHolder(
  'image model',
  () => loadImageModel(tf, config, store, logger, storeConfig.roots[0], serving),
  logger,
);
const renewer = new LeaseRenewer({
  admissionUrl: config.admissionUrl,
  type: 'image',
  headers: bearerHeaders(loadAuthConfig()),
  logger,
});
const service = createImageService({ model, renewer, maxImageBytes: config.maxImageBytes, logger });

http('edge-image', service.handler);

export const upgrade = service.upgrade;
