// The engine: TF.js on the best backend that loads, chosen once per process and logged once.
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { RUNGS, defaultLoaders, loadRung, parseRung, type Rung, type RungLoaders } from './ladder.js';

export { RUNGS, type Rung } from './ladder.js';

export interface Engine {
  readonly tf: typeof tf;
  readonly backend: Rung;
}

export interface EngineOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  loaders?: RungLoaders;
}

/** Picks a backend by walking the ladder (or the forced rung); does not cache. */
export async function selectBackend(options: EngineOptions = {}): Promise<Rung> {
  const env = options.env ?? process.env;
  const loaders = options.loaders ?? defaultLoaders;
  const forced = parseRung(env.KASKADE_BACKEND);
  if (forced) {
    await loadRung(forced, loaders, env);
    return forced;
  }
  const failures: unknown[] = [];
  for (const rung of RUNGS) {
    try {
      await loadRung(rung, loaders, env);
      return rung;
    } catch (e) {
      failures.push(e);
    }
  }
  throw new BackendError('no TF.js backend could be loaded', { cause: new AggregateError(failures) });
}

async function wasmThreads(): Promise<number> {
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  return getThreadsCount();
}

// One engine per process: a backend is process-wide state in TF.js, so this cache is the
// honest shape of it (no per-request state lives here).
let engine: Promise<Engine> | undefined;

export function initEngine(options: EngineOptions = {}): Promise<Engine> {
  engine ??= (async () => {
    const backend = await selectBackend(options);
    const threads = backend === 'wasm' ? `, ${await wasmThreads()} thread(s)` : '';
    (options.logger ?? createLogger('engine')).info(`TF.js backend: ${backend} (tfjs ${tf.version.tfjs}${threads})`);
    return { tf, backend };
  })().catch((e: unknown) => {
    engine = undefined; // a later call may try again (e.g. after fixing KASKADE_BACKEND)
    throw e;
  });
  return engine;
}
