// HTTP helpers shared by every function: the one place typed errors become status codes, and
// the outgoing-call wrapper that gives every downstream request a timeout.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Request, Response } from '@google-cloud/functions-framework';
import { KaskadeError, MethodNotAllowedError, TimeoutError, UnauthorizedError, UnavailableError } from './errors.js';
import type { Logger } from './log.js';

export type Handler = (req: Request, res: Response) => Promise<void>;

/** The headers an error's answer carries besides its JSON body (a 405's Allow, a 401's challenge). */
export function errorHeaders(e: unknown): Record<string, string> {
  if (e instanceof MethodNotAllowedError) return { Allow: e.allow.join(', ') };
  if (e instanceof UnauthorizedError) return { 'WWW-Authenticate': 'Bearer realm="kaskade"' };
  return {};
}

/** Maps an error to `{status, body}`: typed errors keep their status, anything else is a 500. */
export function errorResponse(e: unknown): { status: number; body: { error: string; code: string } } {
  if (e instanceof KaskadeError) return { status: e.httpStatus, body: { error: e.message, code: e.code } };
  // body-parser's own errors (entity.too.large, entity.parse.failed) carry a status.
  const status = (e as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Only the parser's one-line message goes out, never its stack or the request's internals.
    const type = (e as { type?: unknown }).type;
    const message = (e as Error).message.split('\n', 1)[0] ?? '';
    if (type === 'entity.parse.failed')
      return { status, body: { error: `the request body is not valid JSON: ${message}`, code: 'bad_input' } };
    return { status, body: { error: message, code: status === 413 ? 'payload_too_large' : 'bad_input' } };
  }
  return { status: 500, body: { error: 'internal error', code: 'internal' } };
}

/** Wraps a handler so a thrown error becomes one JSON answer (and a 500 is logged). */
export function withErrors(handler: Handler, logger?: Logger): Handler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (e) {
      const { status, body } = errorResponse(e);
      if (status >= 500) logger?.error(`${req.method} ${req.path}: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) res.status(status).set(errorHeaders(e)).json(body);
      else res.end();
    }
  };
}

/**
 * fetch with a deadline. A timeout becomes TimeoutError and a network failure UnavailableError,
 * both naming the URL, so the caller's request fails instead of hanging.
 */
export async function fetchWithTimeout(
  url: string,
  init: RequestInit = {},
  timeoutMs = 30_000,
): Promise<globalThis.Response> {
  const signal = init.signal
    ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(url, { ...init, signal });
  } catch (e) {
    if ((e as Error).name === 'TimeoutError')
      throw new TimeoutError(`${init.method ?? 'GET'} ${url} timed out after ${timeoutMs} ms`, { cause: e });
    // fetch's own message is just "fetch failed"; the socket error that explains it is the cause.
    const why =
      (e as Error).cause instanceof Error
        ? `${(e as Error).message}: ${((e as Error).cause as Error).message}`
        : (e as Error).message;
    throw new UnavailableError(`${init.method ?? 'GET'} ${url} failed: ${why}`, { cause: e });
  }
}

/** An answer read whole by `postBytes`. */
export interface BytesAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

// Kept-alive connections, shared by every call of the process (they hold no request's state).
const AGENTS = {
  'http:': new HttpAgent({ keepAlive: true }),
  'https:': new HttpsAgent({ keepAlive: true }),
};

/**
 * POSTs `body` with Node's own HTTP client and reads the whole answer, within `timeoutMs` for
 * the whole exchange. For large binary bodies on a hot path (a split half's activation), where
 * fetch costs a millisecond or more per call in copies and streams. A connection that fails
 * before any answer arrives is an UnavailableError, and so is an answer over `maxAnswerBytes`;
 * the deadline is a TimeoutError. `body` may be parts, sent one after another without joining. When a kept-alive connection turns out to be closed by the
 * server (its idle timer fired as the request went out), the request is sent once more on a
 * new connection, as Node's documentation advises for `reusedSocket`.
 */
export function postBytes(
  url: string,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array | readonly Uint8Array[],
  timeoutMs: number,
  maxAnswerBytes = 16 * 1024 * 1024,
): Promise<BytesAnswer> {
  const target = new URL(url);
  const agent = target.protocol === 'https:' ? AGENTS['https:'] : target.protocol === 'http:' ? AGENTS['http:'] : null;
  if (!agent) return Promise.reject(new UnavailableError(`POST ${url}: only http and https URLs are called`));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const parts = body instanceof Uint8Array ? [body] : body;
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  const deadline = performance.now() + timeoutMs;
  const attempt = (retry: boolean): Promise<BytesAnswer> =>
    new Promise<BytesAnswer>((resolve, reject) => {
      let answered = false;
      let settled = false;
      const req = send(target, {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(length) },
      });
      const timer = setTimeout(
        () => req.destroy(new TimeoutError(`POST ${url} timed out after ${timeoutMs} ms`)),
        Math.max(1, deadline - performance.now()),
      );
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e instanceof TimeoutError || e instanceof UnavailableError) reject(e);
        else if (retry && !answered && req.reusedSocket && deadline > performance.now()) resolve(attempt(false));
        else reject(new UnavailableError(`POST ${url} failed: ${e.message}`, { cause: e }));
      };
      req.once('error', fail);
      req.once('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= maxAnswerBytes) chunks.push(chunk);
          else {
            fail(new UnavailableError(`POST ${url}: the answer is over ${maxAnswerBytes} bytes`));
            res.destroy();
          }
        });
        res.once('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) });
        });
        res.once('error', fail);
        res.once('close', () => {
          if (!res.complete) fail(new Error('the connection closed before the answer ended'));
        });
      });
      for (const part of parts) req.write(part);
      req.end();
    });
  return attempt(true);
}

/** Answers the readiness probe (`GET /healthz`); true when it did. */
export function answeredProbe(req: Request, res: Response): boolean {
  if (req.method !== 'GET' || req.path !== '/healthz') return false;
  res.status(200).json({ status: 'ok' });
  return true;
}

/**
 * The front of an endpoint that takes CloudEvents: the probe is answered (true), any other
 * non-POST throws MethodNotAllowedError (405), a POST goes on (false).
 */
export function answeredBeforeEvent(req: Request, res: Response): boolean {
  if (answeredProbe(req, res)) return true;
  if (req.method === 'POST') return false;
  throw new MethodNotAllowedError(['GET', 'POST'], `${req.method} is not allowed; POST a CloudEvent`);
}

/**
 * The lingering close of HTTP servers: after answering early (a 413 while the client still
 * sends), reads and drops what still arrives until the body ends, `maxBytes` are dropped or `ms`
 * pass, then calls `done` once. Closing at once would make the kernel reset the connection, and
 * a reset can destroy the answer before the client reads it.
 */
export function lingerOnBody(req: IncomingMessage, limits: { maxBytes: number; ms: number }, done: () => void): void {
  let dropped = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', drop);
    req.off('end', stop);
    req.off('error', stop);
    done();
  };
  const drop = (chunk: Buffer): void => {
    dropped += chunk.byteLength;
    if (dropped > limits.maxBytes) stop();
  };
  const timer = setTimeout(stop, limits.ms);
  req.on('data', drop);
  req.once('end', stop);
  req.once('error', stop);
}
