// What the event-driven functions (splitter, shard-trainer, aggregator) work with: TF.js on the
// chosen backend, the store and the emitter. Opened once per process on the first request (the
// engine takes seconds to start, and a pod scaled from zero should answer its probe at once);
// a failed start is forgotten so the next request tries again.
import type * as tf from '@tensorflow/tfjs';
import { initEngine } from '../functions/_shared/engine/index.js';
import type { Logger } from '../functions/_shared/log.js';
import { openStore } from '../functions/_shared/store/index.js';
import type { Store, StoreConfig } from '../functions/_shared/store/index.js';
import { httpEmit, type Emit, type EmitConfig } from './emit.js';

export interface FunctionDeps {
  readonly tf: typeof tf;
  readonly store: Store;
  readonly emit: Emit;
  readonly logger: Logger;
}

export function lazyDeps(
  config: { store: StoreConfig; emit: EmitConfig },
  logger: Logger,
): () => Promise<FunctionDeps> {
  let deps: Promise<FunctionDeps> | undefined;
  return () => {
    deps ??= initEngine({ logger })
      .then(({ tf: engineTf }) => ({
        tf: engineTf,
        store: openStore(config.store),
        emit: httpEmit(config.emit),
        logger,
      }))
      .catch((e: unknown) => {
        deps = undefined;
        throw e;
      });
    return deps;
  };
}
