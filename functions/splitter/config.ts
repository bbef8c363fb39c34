// The splitter's configuration, read once at start from the environment (listed in README.md).
import { loadEmitConfig, type EmitConfig } from '../../events/emit.js';
import { envInt, envNumber, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';
import { loadStoreConfig, type StoreConfig } from '../_shared/store/index.js';
import type { SplitterSettings } from './split.js';

export interface SplitterConfig {
  readonly store: StoreConfig;
  readonly emit: EmitConfig;
  readonly settings: SplitterSettings;
}

export function loadConfig(env: Env = process.env): SplitterConfig {
  const store = loadStoreConfig(env);
  const defaultRoot = store.roots[0];
  if (defaultRoot === undefined) throw new ConfigError('KASKADE_STORAGE_ROOTS names no root');
  const defaultQuorum = envNumber(env, 'KASKADE_ROUND_QUORUM', 1);
  if (!(defaultQuorum > 0 && defaultQuorum <= 1))
    throw new ConfigError(`KASKADE_ROUND_QUORUM must be in (0, 1], got ${defaultQuorum}`);
  const timeout = envInt(env, 'KASKADE_ROUND_TIMEOUT_S', 0, { min: 0, max: 7 * 24 * 3600 });
  return {
    store,
    emit: loadEmitConfig(env),
    settings: { defaultRoot, defaultQuorum, defaultRoundTimeoutSeconds: timeout === 0 ? undefined : timeout },
  };
}
