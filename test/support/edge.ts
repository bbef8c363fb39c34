// Helpers for the edge services' tests: a function registered under a test name served on an
// ephemeral port with its upgrade handler, a WebSocket client that collects what it is told,
// and a fake admission that records lease renewals.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { WebSocket } from 'ws';

export interface Served {
  base: string;
  ws: string;
  close(): Promise<void>;
}

/** Serves a registered function (and its upgrade handler) on 127.0.0.1 at a free port. */
export async function serveFunction(
  name: string,
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): Promise<Served> {
  const server = getTestServer(name);
  if (upgrade) server.on('upgrade', upgrade);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    close: () => closeServer(server),
  };
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** What one WebSocket connection saw: its messages, and how it closed. */
export interface WsTranscript {
  socket: WebSocket;
  messages: string[];
  /** Resolves with the next message. */
  next(): Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function openWs(url: string): Promise<WsTranscript> {
  const socket = new WebSocket(url);
  const messages: string[] = [];
  const waiting: Array<(m: string) => void> = [];
  const queue: string[] = [];
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    const text = isBinary ? `<${data.length} bytes>` : data.toString('utf8');
    messages.push(text);
    const w = waiting.shift();
    if (w) w(text);
    else queue.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    socket.on('close', (code, reason) => r({ code, reason: reason.toString('utf8') })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    messages,
    next: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((r) => waiting.push(r));
    },
    closed,
  };
}

/** A stand-in for admission that records /app-renew calls and answers 200. */
export async function fakeAdmission(): Promise<{
  url: string;
  renewals: string[];
  renewed: (n: number) => Promise<void>;
  close(): Promise<void>;
}> {
  const renewals: string[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    renewals.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const renewed = async (n: number): Promise<void> => {
    while (renewals.length < n) await new Promise<void>((r) => waiters.push(r));
  };
  return { url, renewals, renewed, close: () => closeServer(server) };
}
