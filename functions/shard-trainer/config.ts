// The shard trainer's configuration, read once at start from the environment (see README.md).
import { loadEmitConfig, type EmitConfig } from '../../events/emit.js';
import { envInt, type Env } from '../_shared/config.js';
import { loadStoreConfig, type StoreConfig } from '../_shared/store/index.js';
import type { TrainerSettings } from './train-shard.js';

export interface TrainerConfig {
  readonly store: StoreConfig;
  readonly emit: EmitConfig;
  readonly settings: TrainerSettings;
}

export function loadConfig(env: Env = process.env): TrainerConfig {
  return {
    store: loadStoreConfig(env),
    emit: loadEmitConfig(env),
    settings: { evalExamples: envInt(env, 'KASKADE_TRAIN_EVAL_EXAMPLES', 1024, { min: 1 }) },
  };
}
