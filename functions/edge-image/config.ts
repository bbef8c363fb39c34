// The edge-image function's configuration, read once at start (README.md).
import { envInt, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';

export interface ImageConfig {
  /** Folder URL of a trained image model (model.json); unset: train the built-in one at start. */
  modelUri: string | undefined;
  /** Admission's URL, renewed with each client's traffic; unset: no renewals. */
  admissionUrl: string | undefined;
  /** Largest image message or body accepted (bytes, before base64 decoding). */
  maxImageBytes: number;
  /** Digits the built-in model trains on, and its epochs. */
  builtinExamples: number;
  builtinEpochs: number;
}

export function loadConfig(env: Env = process.env): ImageConfig {
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
    maxImageBytes: envInt(env, 'EDGE_MAX_MESSAGE_BYTES', 8 * 1024 * 1024, { min: 1024, max: 256 * 1024 * 1024 }),
    builtinExamples: envInt(env, 'EDGE_IMAGE_BUILTIN_EXAMPLES', 1000, { min: 10, max: 60_000 }),
    builtinEpochs: envInt(env, 'EDGE_IMAGE_BUILTIN_EPOCHS', 1, { min: 1, max: 1_000 }),
  };
}
