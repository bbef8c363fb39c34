// Runtime settings read from the environment, once, by the entry point (`kaskade up`); flags
// given on the command line win over them. Every variable is listed in README.md.
import { envInt, envNumber, envString, type Env } from '../../functions/_shared/config.js';
import { ConfigError } from '../../functions/_shared/errors.js';
import { parseGoDuration } from './autoscaling.js';
import type { KpaOverrides } from './autoscaler.js';
import type { WorkerMode } from './build.js';

export interface RuntimeEnvConfig {
  stateDir: string;
  namespace: string;
  workerMode: WorkerMode;
  allowZeroInitialScale: boolean;
  kubectl: string;
  /** Where function folders are looked up; undefined: the repository's functions/. */
  functionsDir: string | undefined;
  readinessTimeoutMs: number;
  kpa: KpaOverrides;
  /** Port of the Kubernetes API (HTTPS); 0 picks a free one. */
  apiPort: number;
  /** The node file the API serves; undefined: the example edge cluster. */
  nodes: string | undefined;
}

export function loadRuntimeConfig(env: Env = process.env): RuntimeEnvConfig {
  const mode = envString(env, 'KASKADE_WORKER_MODE', 'bundle');
  if (mode !== 'bundle' && mode !== 'tsx')
    throw new ConfigError(`KASKADE_WORKER_MODE must be bundle or tsx, got "${mode}"`);
  const timeScale = envNumber(env, 'KASKADE_KPA_TIME_SCALE', 1);
  if (timeScale <= 0) throw new ConfigError(`KASKADE_KPA_TIME_SCALE must be > 0, got ${timeScale}`);
  const stableWindowMs = envDuration(env, 'KASKADE_KPA_STABLE_WINDOW');
  const tickMs = envDuration(env, 'KASKADE_KPA_TICK');
  return {
    stateDir: envString(env, 'KASKADE_STATE_DIR', '.kaskade'),
    namespace: envString(env, 'KASKADE_NAMESPACE', 'default'),
    workerMode: mode,
    allowZeroInitialScale: envBool(env, 'KASKADE_ALLOW_ZERO_INITIAL_SCALE', false),
    kubectl: envString(env, 'KASKADE_KUBECTL', 'kubectl'),
    functionsDir: env.KASKADE_FUNCTIONS_DIR === '' ? undefined : env.KASKADE_FUNCTIONS_DIR,
    readinessTimeoutMs: envInt(env, 'KASKADE_READINESS_TIMEOUT_MS', 60_000, { min: 100 }),
    kpa: {
      timeScale,
      ...(stableWindowMs !== undefined ? { stableWindowMs } : {}),
      ...(tickMs !== undefined ? { tickMs } : {}),
    },
    apiPort: envInt(env, 'KASKADE_API_PORT', 6443, { min: 0, max: 65_535 }),
    nodes: env.KASKADE_NODES === '' ? undefined : env.KASKADE_NODES,
  };
}

function envDuration(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const ms = parseGoDuration(raw);
  if (ms === null || ms <= 0) throw new ConfigError(`${name} must be a duration like 6s or 500ms, got "${raw}"`);
  return ms;
}

function envBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}
