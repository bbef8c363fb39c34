// What the controller works with: the store, the cluster (opened on first use, once), TF.js
// (only to export or load whole models) and the image datasets its training requests name.
import type { Cluster } from '../_shared/cluster/types.js';
import { loadDataset } from '../_shared/data/dataset.js';
import type { ImageDataset } from '../_shared/data/types.js';
import { initEngine } from '../_shared/engine/index.js';
import { BadInputError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import type { Store } from '../_shared/store/index.js';
import type { ControllerDeps } from './controller.js';

export function lazyControllerDeps(store: Store, openCluster: () => Cluster, logger: Logger): ControllerDeps {
  let cluster: Cluster | undefined;
  return {
    store,
    cluster: () => (cluster ??= openCluster()),
    tf: async () => (await initEngine({ logger })).tf,
    loadDataset: async (uri): Promise<ImageDataset> => {
      const data = await loadDataset(uri, { store });
      if (data.kind !== 'image') throw new BadInputError(`dataset ${uri} is text; layer pipelines train on images`);
      return data;
    },
    logger,
  };
}
