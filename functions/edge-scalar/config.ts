// The edge-scalar function's configuration, read once at start (README.md).
import { envInt, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';

export interface ScalarConfig {
  /** Folder URL of a trained driver model (model.json); unset: train the built-in one at start. */
  modelUri: string | undefined;
  /** Admission's URL, renewed with each client's traffic; unset: no renewals. */
  admissionUrl: string | undefined;
  /** Largest window message or body accepted (bytes). */
  maxWindowBytes: number;
  /** Windows per driver the built-in model trains on. */
  builtinWindows: number;
  /** Epochs of the built-in model. */
  builtinEpochs: number;
}

export function loadConfig(env: Env = process.env): ScalarConfig {
  const modelUri = env.MODEL_URI === undefined || env.MODEL_URI === '' ? undefined : env.MODEL_URI;
  if (modelUri !== undefined && !/^(file|gs):\/\//.test(modelUri))
    throw new ConfigError(`MODEL_URI must be a file:// or gs:// folder URL, got "${modelUri}"`);
  const admission =
    env.EDGE_ADMISSION_URL === undefined || env.EDGE_ADMISSION_URL === '' ? undefined : env.EDGE_ADMISSION_URL;
  if (admission !== undefined && !/^https?:\/\//.test(admission))
    throw new ConfigError(`EDGE_ADMISSION_URL must be an http(s) URL, got "${admission}"`);
  return {
    modelUri,
    admissionUrl: admission === undefined ? undefined : admission.endsWith('/') ? admission : `${admission}/`,
    maxWindowBytes: envInt(env, 'EDGE_MAX_MESSAGE_BYTES', 256 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    builtinWindows: envInt(env, 'EDGE_SCALAR_BUILTIN_WINDOWS', 30, { min: 1, max: 10_000 }),
    builtinEpochs: envInt(env, 'EDGE_SCALAR_BUILTIN_EPOCHS', 6, { min: 1, max: 1_000 }),
  };
}
