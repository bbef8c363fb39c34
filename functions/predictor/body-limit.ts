// Request bodies read with a hard limit before the Functions Framework sees them. The framework's
// body parsers accept up to 1 GB (a limit hard-coded in its getServer, with no option to change
// it) and buffer the whole body before any handler runs, so a limit checked in the handler comes
// too late. Installed in front of the framework's Express app, this reader answers 413 for a
// declared Content-Length over the limit without reading the body (and before `100 Continue`),
// stops reading a chunked body as soon as it passes the limit, and hands the framework a request
// whose body is already consumed, which its parsers skip, with the bytes in `req.rawBody` where
// the handlers (and the CloudEvents receiver) read them.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BadInputError, PayloadTooLargeError } from '../_shared/errors.js';
import { errorResponse } from '../_shared/http.js';

/**
 * Puts the body limit in front of every request listener `server` has now (the framework's app).
 * Call once, before the server listens; listeners added later (counters) still see every request.
 */
export function limitRequestBodies(server: Server, limitBytes: number): void {
  const listeners = server.listeners('request');
  server.removeAllListeners('request');
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    for (const listener of listeners) Reflect.apply(listener, server, [req, res]);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => readBody(req, res, limitBytes, forward));
  // With `Expect: 100-continue` the client waits before sending the body: refuse it right there.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const refusal = checkHeaders(req, limitBytes);
    if (refusal) {
      // The client is waiting for 100 Continue: no body is on its way, nothing to drain.
      refuse(req, res, refusal, false);
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
}

/** A request with a body per RFC 9110: a Transfer-Encoding or a Content-Length header. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}

/** What the headers alone already rule out: a declared size over the limit, a compressed body. */
function checkHeaders(req: IncomingMessage, limitBytes: number): Error | undefined {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    return new PayloadTooLargeError(`the request body is ${declared} bytes; the limit is ${limitBytes}`);
  }
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return new BadInputError(`Content-Encoding "${encoding}" is not accepted; send the body uncompressed`);
  }
  return undefined;
}

function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limitBytes: number,
  forward: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  if (!hasBody(req)) {
    forward(req, res);
    return;
  }
  const refusal = checkHeaders(req, limitBytes);
  if (refusal) {
    refuse(req, res, refusal);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size <= limitBytes) {
      chunks.push(chunk);
      return;
    }
    stop();
    chunks.length = 0;
    refuse(req, res, new PayloadTooLargeError(`the request body is over the limit of ${limitBytes} bytes`));
  };
  const onEnd = (): void => {
    stop();
    Object.assign(req, { rawBody: Buffer.concat(chunks, size) });
    forward(req, res);
  };
  // The client went away mid-body: nobody is left to answer.
  const onError = (): void => {
    stop();
    res.destroy();
  };
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('error', onError);
}

/** How long, and how many bytes, a refused request's unread body is drained before closing. */
const LINGER_MS = 1_000;
const LINGER_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Answers the error as JSON and closes the connection, so the rest of the body is never stored.
 * A client may still be sending when the answer goes out; closing on it at once makes the
 * kernel reset the connection, and a reset can destroy the answer before the client reads it.
 * So the answer is written whole, and the body is read and thrown away until the client
 * finishes or stops (bounded in time and bytes) — the lingering close of HTTP servers.
 */
function refuse(req: IncomingMessage, res: ServerResponse, error: Error, bodyMayBeInFlight = true): void {
  const { status, body } = errorResponse(error);
  res.shouldKeepAlive = false;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    Connection: 'close',
  });
  if (!bodyMayBeInFlight || req.complete || !hasBody(req)) {
    res.end(payload);
    return;
  }
  res.write(payload);
  let drained = 0;
  const close = (): void => {
    clearTimeout(timer);
    req.off('data', discard);
    req.off('end', close);
    req.off('error', close);
    if (!res.writableEnded) res.end();
  };
  const discard = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained > LINGER_MAX_BYTES) close();
  };
  const timer = setTimeout(close, LINGER_MS);
  req.on('data', discard);
  req.once('end', close);
  req.once('error', close);
  req.resume();
}
