// The aggregator's configuration, read once at start from the environment (see README.md).
import { loadEmitConfig, type EmitConfig } from '../../events/emit.js';
import { envInt, type Env } from '../_shared/config.js';
import { loadStoreConfig, type StoreConfig } from '../_shared/store/index.js';
import type { AggregatorSettings } from './aggregate.js';

export interface AggregatorConfig {
  readonly store: StoreConfig;
  readonly emit: EmitConfig;
  readonly settings: AggregatorSettings;
}

export function loadConfig(env: Env = process.env): AggregatorConfig {
  const store = loadStoreConfig(env);
  return {
    store,
    emit: loadEmitConfig(env),
    settings: {
      roots: store.roots,
      leaseMs: envInt(env, 'KASKADE_AGGREGATION_LEASE_S', 600, { min: 1, max: 86_400 }) * 1000,
      maxHoldMs: envInt(env, 'KASKADE_ROUND_HOLD_S', 240, { min: 0, max: 3600 }) * 1000,
      evalBatchSize: envInt(env, 'KASKADE_EVAL_BATCH', 512, { min: 1, max: 65_536 }),
    },
  };
}
