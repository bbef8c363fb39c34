// The split-proxy function's configuration, read once at start (README.md). The bandwidth and
// thread count are only the starting settings: `POST /settings` changes them at run time.
import { envInt, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';

export interface SplitProxyConfig {
  /** Where forwards go: half B's URL. */
  targetUrl: string;
  /** Starting link speed in bytes/s; 0 = unlimited. */
  bandwidth: number;
  /** Starting sender-thread count: forwards in flight at once. */
  threads: number;
  /** How long one forward (waiting for the link included) may take (ms). */
  timeoutMs: number;
  /** Largest body forwarded (bytes). */
  maxBodyBytes: number;
}

export const MAX_THREADS = 256;

export function loadConfig(env: Env = process.env): SplitProxyConfig {
  const targetUrl = env.PROXY_TARGET_URL ?? '';
  if (!/^https?:\/\//.test(targetUrl))
    throw new ConfigError(`PROXY_TARGET_URL must be half B's http(s) URL, got "${targetUrl}"`);
  return {
    targetUrl: targetUrl.replace(/\/+$/, ''),
    bandwidth: envInt(env, 'PROXY_BANDWIDTH', 0, { min: 0 }),
    threads: envInt(env, 'PROXY_THREADS', 1, { min: 1, max: MAX_THREADS }),
    timeoutMs: envInt(env, 'PROXY_TIMEOUT_MS', 30_000, { min: 10, max: 600_000 }),
    maxBodyBytes: envInt(env, 'PROXY_MAX_BODY_BYTES', 64 * 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 }),
  };
}
