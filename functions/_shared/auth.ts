// Optional bearer-token authentication, shared by every function's server (functions/_main) and
// the local broker's ingress. Off unless configured. On, a request must carry
// `Authorization: Bearer <token>` where the token is either
// - the shared secret (KASKADE_AUTH_TOKEN, or KASKADE_AUTH_TOKEN_FILE: a mounted Secret), or
// - a JWT whose signature verifies against a JWKS and whose `aud` is KASKADE_AUTH_OIDC_AUDIENCE:
//   what Knative Eventing sends when its `authentication-oidc` feature is on (a service-account
//   token requested for the subscriber's audience; the JWKS is the cluster's issuer's).
// JWTs are verified by `jose` (signature, `aud`, `exp`/`nbf`, optional `iss`), never by hand.
// The readiness and liveness probes stay open: the kubelet sends no token. A function may declare
// more open paths, GET/HEAD and exact only (the predictor: its web page, whose own API calls
// then carry the token the user types); everything else stays closed.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { envInt, envString, type Env } from './config.js';
import { ConfigError, UnauthorizedError } from './errors.js';

/** Paths a probe reaches without a token (any function's, and the predictor's v2 health). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/v2/health/live', '/v2/health/ready']);

export interface OidcConfig {
  /** The `aud` a JWT must name. */
  readonly audience: string;
  /** The `iss` a JWT must name, when set. */
  readonly issuer?: string;
  /** Where the signing keys are: an http(s) URL (fetched with a timeout, cached) or a file:// JWKS. */
  readonly jwksUrl: string;
  /** A bearer token sent when fetching the JWKS (the pod's service-account token for the API server's). */
  readonly jwksToken?: string;
  readonly jwksTimeoutMs: number;
}

export interface AuthConfig {
  readonly token?: string;
  readonly oidc?: OidcConfig;
  /** Exact paths, besides the probes, that GET and HEAD reach without a token (a function's `openPaths`). */
  readonly openPaths?: readonly string[];
}

type ReadText = (path: string) => string;
const readText: ReadText = (path) => readFileSync(path, 'utf8');

/**
 * Reads the auth settings; undefined when none is set (auth off). A token file that cannot be
 * read, an empty token or an audience without a JWKS is a ConfigError naming the variable.
 */
export function loadAuthConfig(env: Env = process.env, read: ReadText = readText): AuthConfig | undefined {
  const token = secret(env, 'KASKADE_AUTH_TOKEN', read);
  const audience = env.KASKADE_AUTH_OIDC_AUDIENCE;
  let oidc: OidcConfig | undefined;
  if (audience !== undefined && audience !== '') {
    const jwksUrl = envString(env, 'KASKADE_AUTH_JWKS_URL');
    if (!/^(https?|file):\/\//.test(jwksUrl))
      throw new ConfigError(`KASKADE_AUTH_JWKS_URL must be an http(s):// or file:// URL, got "${jwksUrl}"`);
    const jwksToken = secret(env, 'KASKADE_AUTH_JWKS_TOKEN', read);
    const issuer = env.KASKADE_AUTH_OIDC_ISSUER;
    oidc = {
      audience,
      jwksUrl,
      jwksTimeoutMs: envInt(env, 'KASKADE_AUTH_JWKS_TIMEOUT_MS', 5_000, { min: 1 }),
      ...(issuer !== undefined && issuer !== '' ? { issuer } : {}),
      ...(jwksToken !== undefined ? { jwksToken } : {}),
    };
  } else if (env.KASKADE_AUTH_JWKS_URL !== undefined && env.KASKADE_AUTH_JWKS_URL !== '') {
    throw new ConfigError('KASKADE_AUTH_JWKS_URL is set without KASKADE_AUTH_OIDC_AUDIENCE');
  }
  if (token === undefined && oidc === undefined) return undefined;
  return { ...(token !== undefined ? { token } : {}), ...(oidc ? { oidc } : {}) };
}

/** `NAME` itself, or the trimmed contents of the file `NAME_FILE` names (a mounted Secret). */
function secret(env: Env, name: string, read: ReadText): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  let value: string | undefined;
  if (direct !== undefined && direct !== '') value = direct;
  else if (file !== undefined && file !== '') {
    try {
      value = read(file).trim();
    } catch (e) {
      throw new ConfigError(`${name}_FILE: cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (value === '') throw new ConfigError(`${name}_FILE: ${file} is empty`);
  }
  if (value !== undefined && /\s/.test(value)) throw new ConfigError(`${name} must not contain whitespace`);
  return value;
}

/** Checks requests against an AuthConfig; `check` throws UnauthorizedError (401). */
export class Authenticator {
  private readonly tokenDigest: Buffer | undefined;
  private readonly keys: JWTVerifyGetKey | undefined;
  private readonly openPaths: ReadonlySet<string>;

  constructor(
    private readonly config: AuthConfig,
    read: ReadText = readText,
  ) {
    this.tokenDigest = config.token === undefined ? undefined : digest(config.token);
    this.keys = config.oidc ? keySet(config.oidc, read) : undefined;
    this.openPaths = new Set(config.openPaths ?? []);
  }

  /** True when a request to `path` (query included or not) needs no token: a probe. */
  static isOpen(method: string | undefined, url: string | undefined): boolean {
    if (method !== 'GET' && method !== 'HEAD') return false;
    return OPEN_PATHS.has(pathOf(url));
  }

  /** True when a request needs no token here: a probe, or a path this function declared open. */
  opens(method: string | undefined, url: string | undefined): boolean {
    if (Authenticator.isOpen(method, url)) return true;
    return (method === 'GET' || method === 'HEAD') && this.openPaths.has(pathOf(url));
  }

  /** Resolves when the headers carry an accepted bearer token. */
  async check(headers: IncomingHttpHeaders): Promise<void> {
    const header = headers.authorization;
    if (header === undefined)
      throw new UnauthorizedError('this service requires a bearer token (Authorization: Bearer …)');
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    const token = match?.[1];
    if (token === undefined) throw new UnauthorizedError('the Authorization header is not a bearer token');
    if (this.tokenDigest !== undefined && timingSafeEqual(digest(token), this.tokenDigest)) return;
    if (this.keys !== undefined && this.config.oidc && token.split('.').length === 3) {
      const { audience, issuer } = this.config.oidc;
      try {
        await jwtVerify(token, this.keys, { audience, ...(issuer !== undefined ? { issuer } : {}) });
        return;
      } catch (e) {
        throw new UnauthorizedError(`the bearer token was refused: ${(e as Error).message}`, { cause: e });
      }
    }
    throw new UnauthorizedError('the bearer token was refused');
  }
}

/** The header an outgoing call to another Kaskade service carries when a shared token is set. */
export function bearerHeaders(config: AuthConfig | undefined): Record<string, string> {
  return config?.token === undefined ? {} : { authorization: `Bearer ${config.token}` };
}

/** A container env entry of a Knative Service: a value, or a Secret's key. */
export type ContainerEnv =
  { name: string; value: string } | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

/** The settings a service created at run time copies from its creator (none of them secret). */
const INHERITED = [
  'KASKADE_AUTH_SECRET',
  'KASKADE_AUTH_OIDC_AUDIENCE',
  'KASKADE_AUTH_OIDC_ISSUER',
  'KASKADE_AUTH_JWKS_URL',
  'KASKADE_AUTH_JWKS_TOKEN_FILE',
  'NODE_EXTRA_CA_CERTS',
] as const;

/**
 * The auth env of a service that a function creates at run time (the layer controller's layer
 * services, admission's edge services), so that it is as closed as its creator. The creator's
 * shared token is never copied as a value: KASKADE_AUTH_SECRET names the Secret both read it
 * from (the cluster overlays' auth component sets it). Empty when the creator runs without it.
 */
export function inheritedAuthEnv(env: Env = process.env): ContainerEnv[] {
  const secretName = env.KASKADE_AUTH_SECRET;
  if (secretName === undefined || secretName === '') return [];
  const out: ContainerEnv[] = [
    { name: 'KASKADE_AUTH_TOKEN', valueFrom: { secretKeyRef: { name: secretName, key: 'token' } } },
  ];
  for (const name of INHERITED) {
    const value = env[name];
    if (value !== undefined && value !== '') out.push({ name, value });
  }
  return out;
}

function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0] ?? '';
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function keySet(oidc: OidcConfig, read: ReadText): JWTVerifyGetKey {
  const url = new URL(oidc.jwksUrl);
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(read(path)) as JSONWebKeySet;
    } catch (e) {
      throw new ConfigError(`KASKADE_AUTH_JWKS_URL: cannot read a JWKS from ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return createLocalJWKSet(jwks);
  }
  return createRemoteJWKSet(url, {
    timeoutDuration: oidc.jwksTimeoutMs,
    ...(oidc.jwksToken !== undefined ? { headers: { authorization: `Bearer ${oidc.jwksToken}` } } : {}),
  });
}
