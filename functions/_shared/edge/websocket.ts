// WebSocket plumbing for the edge services: accept an upgrade only when the model is ready,
// close with a status and a reason a client can show (trimmed to the protocol's 123 bytes),
// and read the client ID a connection or request carries.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BadInputError, KaskadeError } from '../errors.js';

/** 1007: the payload was not what the protocol expects (a bad window, not an image). */
export const CLOSE_BAD_INPUT = 1007;
/** 1009: a message larger than the limit. */
export const CLOSE_TOO_BIG = 1009;
/** 1011: the server failed on a valid message. */
export const CLOSE_SERVER_ERROR = 1011;
/** 1013: try again later (the model is not ready). */
export const CLOSE_TRY_AGAIN = 1013;

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * An upgrade handler that refuses with `refuse()`'s HTTP status while it answers one, and hands
 * every accepted connection to `onConnection`.
 */
export function websocketUpgrade(options: {
  maxPayload: number;
  refuse: () => { status: number; reason: string } | undefined;
  onConnection: (ws: WebSocket, req: IncomingMessage) => void;
}): UpgradeHandler {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  return (req, socket, head) => {
    const refusal = options.refuse();
    if (refusal !== undefined) {
      const body = JSON.stringify({ error: refusal.reason });
      socket.end(
        `HTTP/1.1 ${refusal.status} ${refusal.status === 503 ? 'Service Unavailable' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => options.onConnection(ws, req));
  };
}

/** Closes with the code that fits the error and its message as the reason. */
export function closeFor(ws: WebSocket, e: unknown): void {
  const code =
    e instanceof BadInputError
      ? CLOSE_BAD_INPUT
      : e instanceof KaskadeError && e.httpStatus === 503
        ? CLOSE_TRY_AGAIN
        : CLOSE_SERVER_ERROR;
  const reason = e instanceof KaskadeError ? e.message : 'internal error';
  ws.close(code, trimReason(reason));
}

/** A close reason fits in 123 bytes of UTF-8: a longer one is cut and ends with "...". */
export function trimReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = reason;
  while (Buffer.byteLength(out) > 120) out = out.slice(0, -1);
  return `${out}...`;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Refuses a client ID that is present but malformed. */
export function checkClientId(url: string | undefined): string | undefined {
  const raw = new URL(url ?? '/', 'http://x').searchParams.get('clientID');
  if (raw === null) return undefined;
  if (!CLIENT_ID.test(raw)) throw new BadInputError(`clientID ${JSON.stringify(raw)} is malformed`);
  return raw;
}
