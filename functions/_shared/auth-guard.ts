// Puts an Authenticator in front of a Node HTTP server: every request (and WebSocket upgrade)
// is checked before any listener the server already has sees it, so a refused request is
// answered 401 with its body unread and nothing processed. Probes and the function's declared
// open paths (Authenticator.opens) pass.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Authenticator } from './auth.js';
import { errorHeaders, errorResponse } from './http.js';

type Listener = (...args: unknown[]) => void;

/** Wraps the server's current `request` and `checkContinue` listeners with the check. */
export function guardServer(server: Server, auth: Authenticator): void {
  wrap(server, 'request', auth, (req, e, rest) => refuse(req, rest[0] as ServerResponse, e));
  wrap(server, 'checkContinue', auth, (req, e, rest) => refuse(req, rest[0] as ServerResponse, e));
}

/** An upgrade (WebSocket) handler that runs only for an accepted token; a refusal is a 401 and a closed socket. */
export function guardUpgrade(
  auth: Authenticator,
  handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    if (auth.opens(req.method, req.url)) return handler(req, socket, head);
    auth.check(req.headers).then(
      () => handler(req, socket, head),
      (e: unknown) => refuseUpgrade(socket, e),
    );
  };
}

/** Checks one request; false (after answering 401) when it is refused. For servers that own their handler. */
export async function admitted(auth: Authenticator, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (auth.opens(req.method, req.url)) return true;
  try {
    await auth.check(req.headers);
    return true;
  } catch (e) {
    refuse(req, res, e);
    return false;
  }
}

function wrap(
  server: Server,
  event: 'request' | 'checkContinue',
  auth: Authenticator,
  onRefused: (req: IncomingMessage, e: unknown, rest: unknown[]) => void,
): void {
  const listeners = server.listeners(event) as Listener[];
  if (listeners.length === 0) return;
  server.removeAllListeners(event);
  server.on(event, (req: IncomingMessage, ...rest: unknown[]) => {
    const forward = (): void => {
      for (const listener of listeners) Reflect.apply(listener, server, [req, ...rest]);
    };
    if (auth.opens(req.method, req.url)) return forward();
    auth.check(req.headers).then(forward, (e: unknown) => onRefused(req, e, rest));
  });
}

function refuse(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  const { status, body } = errorResponse(e);
  const text = JSON.stringify(body);
  // The body (if any) stays unread: the connection closes after the answer instead.
  const headers: Record<string, string | number> = {
    ...errorHeaders(e),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (!req.complete) headers.connection = 'close';
  res.writeHead(status, headers).end(text);
}

function refuseUpgrade(socket: Duplex, e: unknown): void {
  const { status, body } = errorResponse(e);
  const text = JSON.stringify(body);
  const challenge = Object.entries(errorHeaders(e))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} Unauthorized\r\n${challenge}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}
