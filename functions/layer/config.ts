// The layer service's configuration, read once at start from the environment (see README.md).
import { envInt, envString, type Env } from '../_shared/config.js';
import { ConfigError, KaskadeError } from '../_shared/errors.js';
import { parseLayerConfigText, parseLayerSpec, type LayerSpec } from '../_shared/layers/spec.js';
import { joinStoreUrl, loadStoreConfig, type StoreConfig } from '../_shared/store/index.js';

export interface LayerConfig {
  readonly store: StoreConfig;
  /** Unset: a generic layer service, told its type by `/initialize`. */
  readonly spec: LayerSpec | undefined;
  readonly entry: { readonly type: string; readonly config: unknown } | undefined;
  readonly name: string;
  readonly stateUrl: string;
  readonly maxBytes: number;
}

export function loadConfig(env: Env = process.env): LayerConfig {
  const store = loadStoreConfig(env);
  const type = env.LAYER_TYPE;
  let spec: LayerSpec | undefined;
  let entry: LayerConfig['entry'];
  if (type !== undefined && type !== '') {
    try {
      const config = parseLayerConfigText(envString(env, 'LAYER_CONFIG', '{}'), 'LAYER_CONFIG');
      spec = parseLayerSpec(type, config);
      entry = { type, config };
    } catch (e) {
      if (e instanceof ConfigError || !(e instanceof KaskadeError)) throw e;
      throw new ConfigError(`LAYER_TYPE / LAYER_CONFIG: ${e.message}`, { cause: e });
    }
  } else if (env.LAYER_CONFIG !== undefined && env.LAYER_CONFIG !== '') {
    throw new ConfigError('LAYER_CONFIG is set but LAYER_TYPE is not');
  }
  const name = envString(env, 'LAYER_NAME', envString(env, 'K_SERVICE', 'layer'));
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(name))
    throw new ConfigError(`LAYER_NAME must be a lowercase service name, got "${name}"`);
  const root = store.roots[0];
  if (root === undefined) throw new ConfigError('KASKADE_STORAGE_ROOTS names no root');
  const stateUrl = envString(env, 'LAYER_STATE_URL', joinStoreUrl(root, `layers/${name}/`));
  return {
    store,
    spec,
    entry,
    name,
    stateUrl: stateUrl.endsWith('/') ? stateUrl : `${stateUrl}/`,
    maxBytes: envInt(env, 'KASKADE_LAYER_MAX_BYTES', 512 * 1024 * 1024, { min: 1024 }),
  };
}
