// The settings both edge services read the same way: where a trained model lives (MODEL_URI)
// and which admission server their clients' traffic renews leases with (EDGE_ADMISSION_URL).
import type { Env } from '../config.js';
import { ConfigError } from '../errors.js';

export interface EdgeUrls {
  /** Folder URL of a trained model (model.json); unset: the service trains its built-in one. */
  modelUri: string | undefined;
  /** Admission's URL, ending in `/`; unset: no renewals. */
  admissionUrl: string | undefined;
}

export function loadEdgeUrls(env: Env): EdgeUrls {
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
  };
}
