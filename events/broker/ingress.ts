// The broker's ingress, the HTTP side of accepting an event: which broker a path names, the
// body read within its limit (413 before the rest is buffered), the event decoded from binary
// or structured mode with its attributes bounded, and errors answered as `{"error": ...}`.
// Journaling and dispatching the accepted event are the broker's (broker.ts).
import type http from 'node:http';
import { NotFoundError, PayloadTooLargeError } from '../../functions/_shared/errors.js';
import { errorHeaders, errorResponse } from '../../functions/_shared/http.js';
import { decodeHttp, type WireEvent } from '../wire.js';
import { checkHeaderBytes } from './limits.js';

/** The broker name from `/<namespace>/<broker>`; NotFound (404) otherwise. */
export function brokerOf(url: string, namespace: string, brokers: ReadonlyMap<string, unknown>): string {
  const path = url.split('?')[0] ?? '';
  const parts = path.split('/').filter((p) => p !== '');
  const [ns, broker] = parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p; // not valid percent-encoding: matches no broker name, so it is a 404 below
    }
  });
  if (parts.length === 2 && ns === namespace && broker !== undefined && brokers.has(broker)) return broker;
  throw new NotFoundError(
    `no broker at ${path} (brokers: ${[...brokers.keys()].map((b) => `/${namespace}/${b}`).join(', ')})`,
  );
}

/** Reads and decodes one event: 413 past `limit` bytes, 400 for a malformed or oversized event. */
export async function readEvent(req: http.IncomingMessage, limit: number): Promise<WireEvent> {
  const event = decodeHttp(req.headers, await readBody(req, limit));
  checkHeaderBytes(event);
  return event;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit)
    return Promise.reject(new PayloadTooLargeError(`event body of ${declared} bytes exceeds the ${limit}-byte limit`));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limit) reject(new PayloadTooLargeError(`event body exceeds the ${limit}-byte limit`));
      else resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

/** Answers an error as JSON with its status and headers (Allow, Retry-After); a client still
 *  sending is told the connection closes, so it reads the answer instead of a reset. */
export function answerError(req: http.IncomingMessage, res: http.ServerResponse, e: unknown): void {
  const { status, body } = errorResponse(e);
  if (!req.complete) res.setHeader('connection', 'close');
  for (const [name, value] of Object.entries(errorHeaders(e))) res.setHeader(name, value);
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
