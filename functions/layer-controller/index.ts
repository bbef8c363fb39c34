// The layer controller: registers the `layer-controller` HTTP handler. The Kubernetes API (the
// shared Cluster on @kubernetes/client-node: in-cluster config in a pod, the runtime's API
// locally), the store and, for exports only, the engine are opened on first use; the logic is
// in controller.ts, pipeline.ts and train.ts.
import { http } from '@google-cloud/functions-framework';
import { clusterFromEnv } from '../_shared/cluster/kube.js';
import { createLogger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import { loadConfig } from './config.js';
import { LayerController } from './controller.js';
import { lazyControllerDeps } from './deps.js';
import { createControllerHandler } from './handler.js';

const logger = createLogger('layer-controller');
const config = loadConfig();

http(
  'layer-controller',
  createControllerHandler(
    new LayerController(
      lazyControllerDeps(openStore(config.store), () => clusterFromEnv(), logger),
      config,
    ),
    logger,
  ),
);
