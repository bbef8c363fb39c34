// What the layer handler works with, opened once per process on the first request (the engine
// takes seconds to start; a pod scaled from zero answers its probe at once). A failed start is
// forgotten so the next request tries again.
import { initEngine } from '../_shared/engine/index.js';
import type { Logger } from '../_shared/log.js';
import { openStore } from '../_shared/store/index.js';
import type { LayerConfig } from './config.js';
import type { LayerDeps } from './handler.js';
import { LayerRegistry } from './registry.js';

export function lazyLayerDeps(config: LayerConfig, logger: Logger): () => Promise<LayerDeps> {
  let deps: Promise<LayerDeps> | undefined;
  return () => {
    deps ??= initEngine({ logger })
      .then(({ tf }) => ({
        tf,
        logger,
        registry: new LayerRegistry(tf, openStore(config.store), {
          spec: config.spec,
          entry: config.entry,
          stateUrl: config.stateUrl,
          maxBytes: config.maxBytes,
        }),
      }))
      .catch((e: unknown) => {
        deps = undefined;
        throw e;
      });
    return deps;
  };
}
