// The layer controller's configuration, read once at start from the environment (see README.md).
import { bearerHeaders, inheritedAuthEnv, loadAuthConfig } from '../_shared/auth.js';
import { envInt, envString, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';
import { joinStoreUrl, loadStoreConfig, type StoreConfig } from '../_shared/store/index.js';
import type { ControllerSettings } from './controller.js';

export interface ControllerConfig extends ControllerSettings {
  readonly store: StoreConfig;
}

function envObject(env: Env, name: string): Record<string, string> {
  const raw = envString(env, name, '{}');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`${name} must be a JSON object of strings: ${(e as Error).message}`, { cause: e });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === 'string')
  ) {
    throw new ConfigError(`${name} must be a JSON object of strings, got ${raw}`);
  }
  return value as Record<string, string>;
}

export function loadConfig(env: Env = process.env): ControllerConfig {
  const store = loadStoreConfig(env);
  const first = store.roots[0];
  if (first === undefined) throw new ConfigError('KASKADE_STORAGE_ROOTS names no root');
  const root = envString(env, 'LAYER_CONTROLLER_ROOT', first);
  return {
    store,
    root,
    services: {
      image: envString(env, 'LAYER_IMAGE', 'ghcr.io/kaskade-dev/kaskade:0.1.0'),
      serviceAccount: envString(env, 'LAYER_SERVICE_ACCOUNT', 'kaskade-function'),
      storageRoots: store.roots,
      stateRoot: joinStoreUrl(root, 'layers/'),
      readyTimeoutMs: envInt(env, 'LAYER_READY_TIMEOUT_MS', 180_000, { min: 1 }),
      env: envObject(env, 'LAYER_SERVICE_ENV'),
      authEnv: inheritedAuthEnv(env),
    },
    client: {
      timeoutMs: envInt(env, 'LAYER_CALL_TIMEOUT_MS', 300_000, { min: 1 }),
      retries: envInt(env, 'LAYER_CALL_RETRIES', 2, { min: 0, max: 10 }),
      headers: bearerHeaders(loadAuthConfig(env)),
    },
  };
}
