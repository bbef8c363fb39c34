// The echo function's logic: answers a request's method, path, headers and body back as JSON,
// optionally after `?sleep=<ms>` of simulated work. It is the local runtime's test fixture.
import type { Request, Response } from '@google-cloud/functions-framework';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { envInt, type Env } from '../_shared/config.js';
import { BadInputError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';

export interface EchoConfig {
  /** Upper bound for `?sleep=`; a larger value is a 400. */
  maxSleepMs: number;
}

export function loadConfig(env: Env = process.env): EchoConfig {
  return { maxSleepMs: envInt(env, 'ECHO_MAX_SLEEP_MS', 30_000, { min: 0 }) };
}

export interface EchoReply {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  bodyBytes: number;
  /** The serving process, so a caller can tell workers apart. */
  pid: number;
}

/** Parses `?sleep=` into milliseconds: absent → 0, otherwise an integer in [0, maxSleepMs]. */
export function parseSleep(raw: unknown, maxSleepMs: number): number {
  if (raw === undefined) return 0;
  const value = typeof raw === 'string' ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < 0) throw new BadInputError(`sleep must be a non-negative integer of milliseconds, got ${JSON.stringify(raw)}`);
  if (value > maxSleepMs) throw new BadInputError(`sleep must be ≤ ${maxSleepMs} ms, got ${value}`);
  return value;
}

export function describe(req: Request): EchoReply {
  const raw: unknown = req.rawBody;
  const body = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(req.originalUrl.split('?')[1] ?? '')) query[name] = value;
  return { method: req.method, path: req.path, query, headers, body: body.toString('utf8'), bodyBytes: body.length, pid: process.pid };
}

/** The HTTP handler: logs one line, sleeps if asked (ending early when the caller goes away), then echoes. */
export function createEcho(config: EchoConfig, logger?: Logger): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const ceType = req.header('ce-type');
    logger?.info(`${req.method} ${req.path}${ceType ? ` ce-type=${ceType} ce-id=${req.header('ce-id') ?? ''}` : ''}`);
    const sleepMs = parseSleep(req.query.sleep, config.maxSleepMs);
    if (sleepMs > 0) await sleep(sleepMs, res);
    if (!res.writableEnded) res.status(200).json(describe(req));
  };
}

// The response closes early only when the caller went away: stop sleeping then.
function sleep(ms: number, res: Response): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
    res.once('close', done);
  });
}

/**
 * HTTP/1.1 upgrade to the `echo` protocol: after the 101 every byte is sent back. Any other
 * protocol is refused with a 400. It lets tests check that upgrades pass through the ingress.
 */
export function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  if (req.headers.upgrade?.toLowerCase() !== 'echo') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  if (head.length > 0) socket.write(head);
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
}
