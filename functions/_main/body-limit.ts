// The body limit in front of every function's parsers. body-parser refuses a body over its limit,
// but only answers once it has read the whole request off the socket (it drains it first), so a
// client could make a pod read gigabytes before its 413. Here a declared Content-Length over the
// limit is answered 413 at once, unread, and a chunked body is cut off as soon as it passes the
// limit: the answer goes out and the connection closes after a short, bounded linger. The parsers
// keep their own limit too.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { PayloadTooLargeError } from '../_shared/errors.js';
import { errorHeaders, errorResponse, lingerOnBody } from '../_shared/http.js';

type Listener = (...args: unknown[]) => void;

/** Wraps the server's current `request` listeners (and `checkContinue`, if any) with the limit. */
export function limitBodies(server: Server, limitBytes: number): void {
  const listeners = server.listeners('request') as Listener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (tooLarge(req, res, limitBytes)) return;
    watchChunked(req, res, limitBytes);
    for (const listener of listeners) Reflect.apply(listener, server, [req, res]);
  });
  const continues = server.listeners('checkContinue') as Listener[];
  // Without a listener of its own, Node answers 100 Continue and emits `request`: checked there.
  if (continues.length === 0) return;
  server.removeAllListeners('checkContinue');
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (tooLarge(req, res, limitBytes)) return;
    for (const listener of continues) Reflect.apply(listener, server, [req, res]);
  });
}

/** A declared size over the limit: answered 413 with the body unread. */
function tooLarge(req: IncomingMessage, res: ServerResponse, limitBytes: number): boolean {
  const declared = Number(req.headers['content-length']);
  if (!(Number.isFinite(declared) && declared > limitBytes)) return false;
  refuse(req, res, new PayloadTooLargeError(`the request body is ${declared} bytes; the limit is ${limitBytes}`));
  return true;
}

/** Counts a body's bytes as the parsers read them; past the limit, answers 413 and closes. */
function watchChunked(req: IncomingMessage, res: ServerResponse, limitBytes: number): void {
  if (req.headers['content-length'] !== undefined) return; // declared and within the limit
  let seen = 0;
  const count = (chunk: Buffer): void => {
    seen += chunk.byteLength;
    if (seen <= limitBytes) return;
    req.off('data', count);
    refuse(req, res, new PayloadTooLargeError(`the request body is over the limit of ${limitBytes} bytes`));
  };
  // Listening for `data` alongside the parser adds no reading of its own: both see each chunk.
  req.on('newListener', function attach(event: string) {
    if (event !== 'data') return;
    req.off('newListener', attach);
    req.on('data', count);
  });
}

/** How long, and how many bytes, a refused request's body is still read before the connection closes. */
const LINGER_MS = 1_000;
const LINGER_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Answers 413 and closes the connection. Closing while the client is still sending would make the
 * kernel reset it, and a reset can destroy the answer before the client reads it, so the answer is
 * written whole and what still arrives is read and dropped until the client stops, for at most
 * LINGER_MS and LINGER_MAX_BYTES: then the connection closes whatever the client does.
 */
function refuse(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  if (res.headersSent) return;
  const { status, body } = errorResponse(e);
  const text = JSON.stringify(body);
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    ...errorHeaders(e),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  if (req.complete) return void res.end(text);
  res.write(text);
  lingerOnBody(req, { maxBytes: LINGER_MAX_BYTES, ms: LINGER_MS }, () => {
    if (!res.writableEnded) res.end();
  });
}
