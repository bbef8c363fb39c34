// The predictor's configuration, read once at start from the environment (see README.md).
import { envInt, envString, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';

export interface PredictorConfig {
  /** Folder URL (file://, gs://) holding the `LATEST` pointer to the published model folder. */
  modelPrefixUrl: string;
  /** URL of the pointer itself: `<modelPrefixUrl>LATEST`. */
  pointerUrl: string;
  /** Name the model is served under: `/v2/models/<name>`. */
  modelName: string;
  /** How often to re-read the pointer (ms); 0 = only on `model.aggregated` events. */
  pollMs: number;
  /** Pause between attempts while no model could be loaded yet (ms). */
  retryMs: number;
  /** Largest request body accepted (bytes); larger → 413. */
  maxBodyBytes: number;
  /** Most instances in one infer request; more → 400. */
  maxBatch: number;
  /** Deadline for reading the pointer and loading one model (ms). */
  loadTimeoutMs: number;
  /** Most instances the batcher puts into one model call (a larger single request runs alone); 1 = no batching. */
  batchMaxSize: number;
  /** Longest a queued request waits for others to join its batch while the model is idle (ms); 0 = never waits. */
  batchMaxLatencyMs: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function loadConfig(env: Env = process.env): PredictorConfig {
  const prefix = envString(env, 'KASKADE_MODEL_URL');
  if (!/^[a-z][a-z0-9+.-]*:\/\//.test(prefix)) {
    throw new ConfigError(`KASKADE_MODEL_URL must be a URL such as file:///data/models/mnist/ or gs://bucket/models/mnist/, got "${prefix}"`);
  }
  const modelPrefixUrl = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const modelName = envString(env, 'KASKADE_MODEL_NAME', 'mnist');
  if (!NAME.test(modelName)) throw new ConfigError(`KASKADE_MODEL_NAME must match ${NAME.source}, got "${modelName}"`);
  return {
    modelPrefixUrl,
    pointerUrl: `${modelPrefixUrl}LATEST`,
    modelName,
    pollMs: envInt(env, 'KASKADE_MODEL_POLL_S', 30, { min: 0, max: 86_400 }) * 1000,
    retryMs: envInt(env, 'KASKADE_MODEL_RETRY_MS', 5000, { min: 10, max: 600_000 }),
    maxBodyBytes: envInt(env, 'KASKADE_MAX_BODY_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    maxBatch: envInt(env, 'KASKADE_MAX_BATCH', 256, { min: 1, max: 65_536 }),
    loadTimeoutMs: envInt(env, 'KASKADE_MODEL_LOAD_TIMEOUT_MS', 120_000, { min: 100 }),
    batchMaxSize: envInt(env, 'KASKADE_BATCH_MAX_SIZE', 32, { min: 1, max: 65_536 }),
    batchMaxLatencyMs: envInt(env, 'KASKADE_BATCH_MAX_LATENCY_MS', 5, { min: 0, max: 10_000 }),
  };
}
