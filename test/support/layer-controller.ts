// Test support: a layer controller over in-process layer services (layer-servers.ts) and the
// in-memory Cluster, with the controller's HTTP handler on an ephemeral port. Service
// `layer-<job>-<k>` answers at layer server k.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { ImageDataset } from '../../functions/_shared/data/types.js';
import { LayerController } from '../../functions/layer-controller/controller.js';
import { createControllerHandler } from '../../functions/layer-controller/handler.js';
import { joinStoreUrl } from '../../functions/_shared/store/index.js';
import { startLayerServers, quietLogger, type LayerServers } from './layer-servers.js';
import { MemoryCluster } from './memory-cluster.js';

export interface ControllerHarness {
  readonly layers: LayerServers;
  readonly cluster: MemoryCluster;
  /** A controller as a fresh pod would start: nothing in memory, everything from storage. */
  controller(): LayerController;
  /** The controller's HTTP handler on an ephemeral port; its base URL. */
  serve(controller?: LayerController): Promise<string>;
  close(): Promise<void>;
}

let registered = 0;

export async function startControllerHarness(layerCount: number, dataset?: ImageDataset): Promise<ControllerHarness> {
  const layers = await startLayerServers(layerCount);
  const cluster = new MemoryCluster({
    urlOf: (name) => {
      const k = Number(/-(\d+)$/.exec(name)?.[1] ?? NaN);
      return layers.servers[k]?.url ?? `http://${name}.invalid`;
    },
  });
  const servers: Server[] = [];
  const controller = (): LayerController =>
    new LayerController(
      {
        store: layers.store,
        cluster: () => cluster,
        tf: () => Promise.resolve(layers.engine.tf),
        loadDataset: (uri) =>
          dataset ? Promise.resolve(dataset) : Promise.reject(new Error(`no dataset ${uri} in this test`)),
        logger: quietLogger('layer-controller'),
      },
      {
        root: layers.root,
        services: {
          image: 'kaskade',
          serviceAccount: 'kaskade-layer-controller',
          storageRoots: [layers.root],
          stateRoot: joinStoreUrl(layers.root, 'layers/'),
          readyTimeoutMs: 200,
          env: {},
        },
        client: { timeoutMs: 60_000, retries: 1 },
      },
    );
  return {
    layers,
    cluster,
    controller,
    serve: async (c = controller()) => {
      const name = `layer-controller-test-${++registered}`;
      http(name, createControllerHandler(c, quietLogger('layer-controller')));
      const server = getTestServer(name);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: async () => {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await layers.close();
    },
  };
}
