// The predictor's configuration, read once at start from the environment (see README.md).
import { envInt, envNumber, envString, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';

/**
 * Where the served models are published. `many`: every `<name>/LATEST` under one folder
 * (`KASKADE_MODELS_URL`, e.g. `…/models/`). `one`: a single prefix holding `LATEST`, served under
 * a fixed name (`KASKADE_MODEL_URL` + `KASKADE_MODEL_NAME`).
 */
export type ModelsSource =
  | { kind: 'many'; modelsUrl: string }
  | { kind: 'one'; prefixUrl: string; name: string }
  /** A user's own `.onnx` file (`KASKADE_MODEL_URL=…/model.onnx`), served under a fixed name. */
  | { kind: 'file'; fileUrl: string; name: string };

export interface PredictorConfig {
  source: ModelsSource;
  /** `start`: load every published model when the predictor starts; `first-use`: when a request first names it. */
  loadAt: 'start' | 'first-use';
  /** A loaded model not used for this long is unloaded (ms); 0 = never. */
  idleUnloadMs: number;
  /** Most bytes of weights kept loaded; beyond it the least recently used models are unloaded. */
  memoryBudgetBytes: number;
  /** How often to re-read the pointers of loaded models (ms); 0 = only on `model.aggregated` events. */
  pollMs: number;
  /** Pause between attempts while a model to load at start is missing or failed to load (ms). */
  retryMs: number;
  /** Largest request body accepted (bytes); larger → 413. */
  maxBodyBytes: number;
  /** Most instances in one infer request; more → 400. */
  maxBatch: number;
  /** Deadline for reading a pointer and loading one model (ms). */
  loadTimeoutMs: number;
  /** Most instances the batcher puts into one model call (a larger single request runs alone); 1 = no batching. */
  batchMaxSize: number;
  /** Longest a queued request waits for others to join its batch while the model is idle (ms); 0 = never waits. */
  batchMaxLatencyMs: number;
}

/** A served model's name: what `/v2/models/{name}` and `models/<name>/LATEST` use. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//;

export function loadConfig(env: Env = process.env): PredictorConfig {
  return {
    source: loadSource(env),
    loadAt: loadAt(env),
    idleUnloadMs: envInt(env, 'KASKADE_MODEL_IDLE_S', 900, { min: 0, max: 31_536_000 }) * 1000,
    memoryBudgetBytes: memoryBudget(env),
    pollMs: envInt(env, 'KASKADE_MODEL_POLL_S', 30, { min: 0, max: 86_400 }) * 1000,
    retryMs: envInt(env, 'KASKADE_MODEL_RETRY_MS', 5000, { min: 10, max: 600_000 }),
    maxBodyBytes: envInt(env, 'KASKADE_MAX_BODY_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    maxBatch: envInt(env, 'KASKADE_MAX_BATCH', 256, { min: 1, max: 65_536 }),
    loadTimeoutMs: envInt(env, 'KASKADE_MODEL_LOAD_TIMEOUT_MS', 120_000, { min: 100 }),
    batchMaxSize: envInt(env, 'KASKADE_BATCH_MAX_SIZE', 32, { min: 1, max: 65_536 }),
    batchMaxLatencyMs: envInt(env, 'KASKADE_BATCH_MAX_LATENCY_MS', 5, { min: 0, max: 10_000 }),
  };
}

function loadSource(env: Env): ModelsSource {
  const many = env.KASKADE_MODELS_URL;
  const one = env.KASKADE_MODEL_URL;
  if (many !== undefined && many !== '' && one !== undefined && one !== '') {
    throw new ConfigError(
      'set KASKADE_MODELS_URL (every model under a folder) or KASKADE_MODEL_URL (one model), not both',
    );
  }
  if ((many === undefined || many === '') && (one === undefined || one === '')) {
    throw new ConfigError(
      'environment variable KASKADE_MODELS_URL (a folder of published models) or KASKADE_MODEL_URL (one model) is required',
    );
  }
  if (many !== undefined && many !== '')
    return {
      kind: 'many',
      modelsUrl: folderUrl('KASKADE_MODELS_URL', many, 'file:///data/models/ or gs://bucket/models/'),
    };
  const url = envString(env, 'KASKADE_MODEL_URL');
  const name = envString(env, 'KASKADE_MODEL_NAME', 'mnist');
  if (!MODEL_NAME.test(name))
    throw new ConfigError(`KASKADE_MODEL_NAME must match ${MODEL_NAME.source}, got "${name}"`);
  if (url.endsWith('.onnx')) {
    if (!URL_SCHEME.test(url))
      throw new ConfigError(`KASKADE_MODEL_URL must be a URL such as file:///data/resnet50.onnx, got "${url}"`);
    return { kind: 'file', fileUrl: url, name };
  }
  const prefixUrl = folderUrl('KASKADE_MODEL_URL', url, 'file:///data/models/mnist/ or gs://bucket/models/mnist/');
  return { kind: 'one', prefixUrl, name };
}

function folderUrl(variable: string, value: string, example: string): string {
  if (!URL_SCHEME.test(value)) throw new ConfigError(`${variable} must be a URL such as ${example}, got "${value}"`);
  return value.endsWith('/') ? value : `${value}/`;
}

function memoryBudget(env: Env): number {
  const mb = envNumber(env, 'KASKADE_MODELS_MEMORY_MB', 512);
  if (!(mb > 0)) throw new ConfigError(`KASKADE_MODELS_MEMORY_MB must be a number of MiB above 0, got ${mb}`);
  return Math.round(mb * 1024 * 1024);
}

function loadAt(env: Env): PredictorConfig['loadAt'] {
  const value = envString(env, 'KASKADE_MODEL_LOAD', 'start');
  if (value !== 'start' && value !== 'first-use')
    throw new ConfigError(`KASKADE_MODEL_LOAD must be "start" or "first-use", got "${value}"`);
  return value;
}
