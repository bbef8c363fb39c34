// The edge-image function's configuration, read once at start (README.md).
import { envInt, type Env } from '../_shared/config.js';
import { loadEdgeUrls, type EdgeUrls } from '../_shared/edge/config.js';

/** MODEL_URI and EDGE_ADMISSION_URL (shared with the other edge service), then this one's own. */
export interface ImageConfig extends EdgeUrls {
  /** Largest image message or body accepted (bytes, before base64 decoding). */
  maxImageBytes: number;
  /** Digits the built-in model trains on, and its epochs. */
  builtinExamples: number;
  builtinEpochs: number;
}

export function loadConfig(env: Env = process.env): ImageConfig {
  return {
    ...loadEdgeUrls(env),
    maxImageBytes: envInt(env, 'EDGE_MAX_MESSAGE_BYTES', 8 * 1024 * 1024, { min: 1024, max: 256 * 1024 * 1024 }),
    builtinExamples: envInt(env, 'EDGE_IMAGE_BUILTIN_EXAMPLES', 1000, { min: 10, max: 60_000 }),
    builtinEpochs: envInt(env, 'EDGE_IMAGE_BUILTIN_EPOCHS', 1, { min: 1, max: 1_000 }),
  };
}
