// Test support: layer services in this process, each the real `layer` handler behind the
// Functions Framework's HTTP stack on an ephemeral port, over one temp-folder store; and
// LayerClients for them. Close kills a server's connections (a layer going away) on demand.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { initEngine, type Engine } from '../../functions/_shared/engine/index.js';
import { createLogger, type Logger } from '../../functions/_shared/log.js';
import { openStore, type Store } from '../../functions/_shared/store/index.js';
import { createLayerHandler } from '../../functions/layer/handler.js';
import { LayerRegistry } from '../../functions/layer/registry.js';
import { LayerClient, type ClientOptions } from '../../events/layer-client.js';

export interface LayerServer {
  readonly url: string;
  readonly registry: LayerRegistry;
  /** Calls `listener` with every request as it arrives (before the handler runs). */
  onRequest(listener: (req: IncomingMessage) => void): void;
  /** Stops the server and drops its in-memory state, as a killed pod loses it. */
  kill(): Promise<void>;
}

export interface LayerServers {
  readonly engine: Engine;
  readonly store: Store;
  readonly root: string;
  readonly servers: LayerServer[];
  clients(options?: Partial<ClientOptions>): LayerClient[];
  /** Starts a fresh server (new registry, same store, same port) in place of server k. */
  restart(k: number): Promise<void>;
  close(): Promise<void>;
}

let registered = 0;

export function quietLogger(component: string): Logger {
  return process.env.KASKADE_TEST_LOGS
    ? createLogger(component)
    : createLogger(component, new Writable({ write: (_c, _e, done) => done() }));
}

async function startOne(engine: Engine, store: Store, stateUrl: string, port = 0): Promise<LayerServer> {
  const logger = quietLogger('layer');
  const registry = new LayerRegistry(engine.tf, store, {
    spec: undefined,
    entry: undefined,
    stateUrl,
    maxBytes: 512 << 20,
  });
  const name = `layer-test-${++registered}`;
  http(
    name,
    createLayerHandler(() => Promise.resolve({ tf: engine.tf, registry, logger }), logger),
  );
  const server: Server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    registry,
    onRequest: (listener) => void server.prependListener('request', listener),
    kill: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const id of registry.jobIds()) registry.drop(id);
    },
  };
}

/** `count` generic layer services (told their type by /initialize), checkpoints under a temp dir. */
export async function startLayerServers(count: number): Promise<LayerServers> {
  const engine = await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'layers-'));
  const root = pathToFileURL(dir).href;
  const store = openStore({ roots: [root] });
  const stateUrl = (k: number): string => `${root}/layers/layer-${k}/`;
  const servers: LayerServer[] = [];
  for (let k = 0; k < count; k++) servers.push(await startOne(engine, store, stateUrl(k)));
  return {
    engine,
    store,
    root,
    servers,
    clients: (options = {}) =>
      servers.map(
        (s, index) =>
          new LayerClient({ index, name: `layer-${index}`, url: s.url }, { timeoutMs: 60_000, retries: 1, ...options }),
      ),
    restart: async (k) => {
      const old = servers[k];
      servers[k] = await startOne(engine, store, stateUrl(k), old === undefined ? 0 : Number(new URL(old.url).port));
    },
    close: async () => {
      for (const s of servers) await s.kill().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
