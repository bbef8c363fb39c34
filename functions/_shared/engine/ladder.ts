// The backend ladder: tfjs-node-gpu → tfjs-node → wasm → cpu. KASKADE_BACKEND forces one rung;
// a forced rung that fails to load is an error, never a silent fallback.
import * as tf from '@tensorflow/tfjs';
import { BackendError, ConfigError } from '../errors.js';

export const RUNGS = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type Rung = (typeof RUNGS)[number];

export function parseRung(value: string | undefined): Rung | undefined {
  if (value === undefined || value === '' || value === 'auto') return undefined;
  const rung = RUNGS.find((r) => r === value);
  if (rung !== undefined) return rung;
  throw new ConfigError(`KASKADE_BACKEND must be one of ${RUNGS.join(', ')} or auto, got "${value}"`);
}

/** Loads one rung and makes it the active backend; throws BackendError when it cannot. */
export async function loadRung(rung: Rung, loaders: RungLoaders, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await loaders[rung](env);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BackendError(`backend ${rung} failed to load: ${reason}`, { cause });
  }
}

/** One loader per rung; each reads its own settings from `env`. */
export type RungLoaders = Record<Rung, (env: NodeJS.ProcessEnv) => Promise<void>>;

async function activate(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

// Package names held in variables so bundlers and the type checker do not require the
// optional native packages to exist.
const NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
const NODE_PACKAGE = '@tensorflow/tfjs-node';

export const defaultLoaders: RungLoaders = {
  'node-gpu': async () => {
    await import(NODE_GPU_PACKAGE);
    await activate('tensorflow');
  },
  node: async () => {
    await import(NODE_PACKAGE);
    await activate('tensorflow');
  },
  wasm: async (env) => {
    const { loadWasmConfig, startWasm } = await import('./wasm.js');
    await startWasm(loadWasmConfig(env), () => activate('wasm'));
  },
  cpu: async () => {
    await activate('cpu');
  },
};
