// The HTTP side of a pod: imports a function module, serves what it registered with the
// Functions Framework (app.ts), counts in-flight requests and drains them on demand. Kept apart
// from main.ts (the process entry) so tests can run it in process.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { getFunction } from '@google-cloud/functions-framework/testing';
import { Authenticator, loadAuthConfig, type AuthConfig } from '../_shared/auth.js';
import { guardServer, guardUpgrade } from '../_shared/auth-guard.js';
import { envInt, envString, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';
import { createLogger } from '../_shared/log.js';
import { loadTracingConfig, startTracing, type Tracing } from '../_shared/observability/tracing.js';
import { DEFAULT_MAX_BODY_BYTES, httpFunctionApp } from './app.js';
import { limitBodies } from './body-limit.js';
import { observedListener } from './observe.js';
import { serveStats } from './stats.js';

/** The folder `functions/` sits in: the image's /app, or the repository. */
const APP_ROOT = resolve(import.meta.dirname, '..', '..');

export interface WorkerConfig {
  /** The registered function to serve (FUNCTION_TARGET). */
  target: string;
  /** The module that registers it: functions/<target>/index.ts unless KASKADE_FUNCTION_SOURCE. */
  source: string;
  port: number;
  host: string;
  drainTimeoutMs: number;
  /** Largest request body the function's parsers read (KASKADE_MAX_BODY_BYTES); larger gets 413. */
  maxBodyBytes: number;
  /** Bearer-token authentication (functions/_shared/auth.ts); undefined: off. */
  auth?: AuthConfig;
  /** KASKADE_DEBUG_STATS=1: the pod answers GET /.kaskade/stats (stats.ts), for soak tests. */
  debugStats: boolean;
  /** /metrics, request and event metrics, and spans (KASKADE_OBSERVABILITY=off turns them off). */
  observability: boolean;
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const target = envString(env, 'FUNCTION_TARGET');
  if (!/^[a-z][a-z0-9-]*$/i.test(target))
    throw new ConfigError(`FUNCTION_TARGET must be a function folder name, got "${target}"`);
  return {
    target,
    source: resolve(APP_ROOT, envString(env, 'KASKADE_FUNCTION_SOURCE', `functions/${target}/index.ts`)),
    port: envInt(env, 'PORT', 8080, { min: 0, max: 65_535 }),
    host: envString(env, 'KASKADE_WORKER_HOST', '127.0.0.1'),
    drainTimeoutMs: envInt(env, 'KASKADE_DRAIN_TIMEOUT_MS', 300_000, { min: 0 }),
    maxBodyBytes: envInt(env, 'KASKADE_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, { min: 1024 }),
    debugStats: env.KASKADE_DEBUG_STATS === '1',
    observability: envSwitch(env, 'KASKADE_OBSERVABILITY', true),
    ...authOf(env),
  };
}

function authOf(env: Env): { auth?: AuthConfig } {
  const auth = loadAuthConfig(env);
  return auth ? { auth } : {};
}

/** What a function module may export besides its registrations: an HTTP upgrade handler. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Also exportable: `prepareServer`, called once with the server before it listens, e.g. to read
 * request bodies with a limit before the framework's own parsers (which take up to 1 GB) do.
 */
export type PrepareServer = (server: Server) => void;

export interface ServedFunction {
  readonly server: Server;
  readonly port: number;
  /** Requests (and upgraded connections) not finished yet. */
  inFlight(): number;
  /** Stops accepting, waits for in-flight work; false when the deadline cut some off. */
  drain(timeoutMs: number): Promise<boolean>;
}

export async function serveFunction(
  config: WorkerConfig,
  importModule: (path: string) => Promise<unknown>,
): Promise<ServedFunction> {
  const mod = await importModule(config.source);
  // The registry's one public accessor; every Kaskade function registers with `http()` (events
  // arrive as HTTP CloudEvents and are parsed by events/receive.ts), so it is an HttpFunction.
  const fn = getFunction(config.target) as HttpFunction | undefined;
  if (fn === undefined) throw new ConfigError(`${config.source} does not register a function named "${config.target}"`);
  // Every function gets /metrics, request and event metrics, and a span per request.
  const app = httpFunctionApp(fn, createLogger(config.target), config.maxBodyBytes);
  const server = createServer(config.observability ? observedListener(app) : app);
  limitBodies(server, config.maxBodyBytes);
  // A module with a body limit of its own (the predictor's) puts it in front of this one.
  prepareServerOf(mod)?.(server);
  // In front of everything the module and the framework installed: a refused request is not read.
  const auth = config.auth ? new Authenticator({ ...config.auth, openPaths: openPathsOf(mod) }) : undefined;
  if (auth) guardServer(server, auth);
  let active = 0;
  let draining = false;
  const idleWaiters: Array<() => void> = [];
  const finished = (): void => {
    active -= 1;
    if (draining) server.closeIdleConnections();
    if (active === 0) for (const wake of idleWaiters.splice(0)) wake();
  };
  server.on('request', (_req, res) => {
    active += 1;
    if (draining) res.setHeader('Connection', 'close');
    res.once('close', finished);
  });
  const upgraded = new Set<Duplex>();
  const upgradeOfModule = upgradeHandlerOf(mod);
  const upgrade = upgradeOfModule && auth ? guardUpgrade(auth, upgradeOfModule) : upgradeOfModule;
  if (upgrade) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      active += 1;
      upgraded.add(socket);
      socket.once('close', () => {
        upgraded.delete(socket);
        finished();
      });
      upgrade(req, socket, head);
    });
  }
  if (config.debugStats) serveStats(server);
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(config.port, config.host, () => {
      server.off('error', fail);
      done();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    server,
    port,
    inFlight: () => active,
    async drain(timeoutMs) {
      draining = true;
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeIdleConnections();
      const idle = active === 0 ? Promise.resolve() : new Promise<void>((wake) => idleWaiters.push(wake));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((done) => (timer = setTimeout(() => done(false), timeoutMs)));
      const clean = await Promise.race([idle.then(() => true as const), deadline]);
      clearTimeout(timer);
      if (!clean) {
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
      }
      await closed;
      return clean;
    },
  };
}

function prepareServerOf(mod: unknown): PrepareServer | undefined {
  if (typeof mod !== 'object' || mod === null || !('prepareServer' in mod)) return undefined;
  const candidate = mod.prepareServer;
  return typeof candidate === 'function' ? (candidate as PrepareServer) : undefined;
}

/**
 * Also exportable: `traceContext = 'request'` for a function that emits no event while it
 * serves, so its process runs without the async context manager (see startTracing).
 */
function traceContextOf(mod: unknown): 'async' | 'request' {
  if (typeof mod !== 'object' || mod === null || !('traceContext' in mod)) return 'async';
  return mod.traceContext === 'request' ? 'request' : 'async';
}

/**
 * Also exportable: `openPaths`, exact paths that GET and HEAD reach without a token when auth is
 * on (the predictor's web page); anything else a module exports there is ignored.
 */
function openPathsOf(mod: unknown): string[] {
  if (typeof mod !== 'object' || mod === null || !('openPaths' in mod) || !Array.isArray(mod.openPaths)) return [];
  return mod.openPaths.filter((p): p is string => typeof p === 'string' && p.startsWith('/'));
}

function upgradeHandlerOf(mod: unknown): UpgradeHandler | undefined {
  if (typeof mod !== 'object' || mod === null || !('upgrade' in mod)) return undefined;
  const candidate = mod.upgrade;
  return typeof candidate === 'function' ? (candidate as UpgradeHandler) : undefined;
}

/**
 * Runs a worker process to completion: serves the function, reports `listening` to the runtime
 * over IPC, drains on SIGTERM/SIGINT (or when the runtime's IPC channel closes), then exits
 * 0 (or 1 when the drain deadline cut requests off).
 */
export async function runWorker(env: Env, importModule: (path: string) => Promise<unknown>): Promise<void> {
  let config: WorkerConfig;
  let served: ServedFunction;
  let tracing: Tracing;
  try {
    config = loadWorkerConfig(env);
    // The function's module is imported first (serveFunction's import is then the cached one) to
    // read whether it needs the async trace context (see startTracing).
    const asyncContext = traceContextOf(await importModule(config.source)) !== 'request';
    tracing = config.observability
      ? startTracing(loadTracingConfig(env, config.target), { asyncContext })
      : { shutdown: () => Promise.resolve() };
    served = await serveFunction(config, importModule);
  } catch (e) {
    // One readable line for the runtime's error message, then the details.
    process.stderr.write(
      `cannot start: ${e instanceof Error ? e.message : String(e)}\n${e instanceof Error ? (e.stack ?? '') : ''}\n`,
    );
    process.exit(1);
  }
  process.send?.({ kind: 'listening', port: served.port });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const drained = served.drain(config.drainTimeoutMs);
    // The server has stopped listening by now: say so, with what is left to finish.
    process.stderr.write(`draining: ${served.inFlight()} request(s) in flight, no new ones taken\n`);
    drained.then(
      // Spans still buffered for an OTLP collector go out first (bounded: the exporter times out).
      (clean) => void tracing.shutdown().finally(() => process.exit(clean ? 0 : 1)),
      (e: unknown) => {
        process.stderr.write(`drain failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}

function envSwitch(env: Env, name: string, fallback: boolean): boolean {
  const value = envString(env, name, fallback ? 'on' : 'off');
  if (value !== 'on' && value !== 'off') throw new ConfigError(`${name} must be on or off, got "${value}"`);
  return value === 'on';
}
