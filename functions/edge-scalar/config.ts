// The edge-scalar function's configuration, read once at start (README.md).
import { envInt, type Env } from '../_shared/config.js';
import { loadEdgeUrls, type EdgeUrls } from '../_shared/edge/config.js';

/** MODEL_URI and EDGE_ADMISSION_URL (shared with the other edge service), then this one's own. */
export interface ScalarConfig extends EdgeUrls {
  /** Largest window message or body accepted (bytes). */
  maxWindowBytes: number;
  /** Windows per driver the built-in model trains on. */
  builtinWindows: number;
  /** Epochs of the built-in model. */
  builtinEpochs: number;
}

export function loadConfig(env: Env = process.env): ScalarConfig {
  return {
    ...loadEdgeUrls(env),
    maxWindowBytes: envInt(env, 'EDGE_MAX_MESSAGE_BYTES', 256 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    builtinWindows: envInt(env, 'EDGE_SCALAR_BUILTIN_WINDOWS', 30, { min: 1, max: 10_000 }),
    builtinEpochs: envInt(env, 'EDGE_SCALAR_BUILTIN_EPOCHS', 6, { min: 1, max: 1_000 }),
  };
}
