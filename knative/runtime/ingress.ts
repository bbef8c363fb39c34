// The local ingress: one HTTP server in front of every service. It routes by Host
// (`<svc>.<ns>.localhost`, also `<svc>.<ns>.svc.cluster.local`) or by path prefix
// (`/<ns>/<svc>/...`), waits for a slot in the service's pool (buffering while it scales from
// zero), streams the request and the answer through, applies the service's timeout, and passes
// HTTP upgrades (WebSocket) through. `/_kaskade/*` is the runtime's admin API.
import {
  createServer,
  request,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { NotFoundError, TimeoutError, UnavailableError } from '../../functions/_shared/errors.js';
import { errorHeaders, errorResponse, lingerOnBody } from '../../functions/_shared/http.js';
import type { Logger } from '../../functions/_shared/log.js';
import type { ServicePool, Slot } from './pool.js';

export interface IngressTarget {
  /** Where a request gets its slot on a worker (a ServicePool; the ingress needs nothing else). */
  pool: Pick<ServicePool, 'acquire'>;
  timeoutMs: number;
}

export interface IngressOptions {
  port: number;
  host: string;
  lookup: (namespace: string, name: string) => IngressTarget | undefined;
  /** Answers `/_kaskade/...`; the ingress answers 404 for paths it does not know. */
  admin: (path: string, req: IncomingMessage, res: ServerResponse) => boolean;
  logger: Logger;
  /** Answers `GET /metrics` (and `/_kaskade/metrics`): the runtime's Prometheus metrics. */
  metrics?: (res: ServerResponse) => void;
  /** Told of every request routed to a service when its answer ends (status 0: none sent). */
  observe?: (namespace: string, name: string, status: number, ms: number) => void;
  /** Told of every request a pod took, with its pod, timing and `ce-*` attributes, once its answer is done (the dashboard). */
  record?: (record: RequestRecord) => void;
}

/** One request through the ingress, as the dashboard sees it. */
export interface RequestRecord {
  namespace: string;
  name: string;
  pod: string;
  method: string;
  /** The path the worker saw, without the query. */
  path: string;
  status: number;
  /** Epoch ms when the request arrived and when its answer ended. */
  startMs: number;
  endMs: number;
  /** The request's Content-Length (0 when unknown). */
  requestBytes: number;
  /** The request's binary-mode CloudEvent attributes (`ce-*` headers, prefix dropped). */
  ce: Record<string, string>;
}

export interface Ingress {
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export interface Route {
  namespace: string;
  name: string;
  /** The path (with query) the worker sees. */
  path: string;
  /** Set for the path form: the prefix the worker does not see. */
  prefix: string | null;
}

const HOST_FORM =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(localhost|svc\.cluster\.local|svc)$/;
const PATH_FORM = /^\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?=$|[/?])(.*)$/;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);
/**
 * Not forwarded either: the ingress has answered `Expect: 100-continue` itself (Node's server
 * does) and the body is on its way, so the worker must treat it as a body in flight.
 */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'expect']);
/** How much of a request body, and for how long, is read and dropped after an early answer. */
const LINGER_MAX_BYTES = 16 * 1024 * 1024;
const LINGER_MS = 2_000;

/** Resolves a request to a service: the Host form wins, then the path form. */
export function routeOf(hostHeader: string | undefined, url: string): Route | null {
  const host = (hostHeader ?? '').toLowerCase().replace(/:\d+$/, '');
  const h = HOST_FORM.exec(host);
  if (h?.[1] !== undefined && h[3] !== undefined) return { namespace: h[3], name: h[1], path: url, prefix: null };
  const p = PATH_FORM.exec(url);
  if (p?.[1] !== undefined && p[3] !== undefined) {
    const rest = p[5] ?? '';
    return { namespace: p[1], name: p[3], path: rest.startsWith('/') ? rest : `/${rest}`, prefix: `/${p[1]}/${p[3]}` };
  }
  return null;
}

export async function startIngress(options: IngressOptions): Promise<Ingress> {
  const server = createServer((req, res) => {
    void handle(options, req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void upgrade(options, req, socket, head);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host, () => {
      server.off('error', fail);
      done();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body } = errorResponse(e);
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...errorHeaders(e),
    // A full queue or a service that cannot start: the client may come back shortly.
    ...(status === 503 ? { 'retry-after': '1' } : {}),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function badGateway(res: ServerResponse, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ error: message, code: 'bad_gateway' });
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function resolveTarget(options: IngressOptions, req: IncomingMessage): { route: Route; target: IngressTarget } {
  const route = routeOf(req.headers.host, req.url ?? '/');
  if (!route)
    throw new NotFoundError(
      `no service here: use http://<service>.<namespace>.localhost:<port>/ or http://127.0.0.1:<port>/<namespace>/<service>/`,
    );
  const target = options.lookup(route.namespace, route.name);
  if (!target) throw new NotFoundError(`no service ${route.namespace}/${route.name}`);
  return { route, target };
}

async function handle(options: IngressOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const path = url.split('?')[0];
  if (options.metrics && req.method === 'GET' && (path === '/metrics' || path === '/_kaskade/metrics')) {
    options.metrics(res);
    return;
  }
  if (url.startsWith('/_kaskade/')) {
    if (!options.admin(url.split('?')[0] ?? url, req, res))
      sendError(res, new NotFoundError(`no admin endpoint ${url}`));
    return;
  }
  let resolved: { route: Route; target: IngressTarget };
  try {
    resolved = resolveTarget(options, req);
  } catch (e) {
    req.resume();
    sendError(res, e);
    return;
  }
  const { route, target } = resolved;
  const startMs = Date.now();
  const { observe } = options;
  if (observe) {
    const started = performance.now();
    res.once('close', () =>
      observe(route.namespace, route.name, res.headersSent ? res.statusCode : 0, performance.now() - started),
    );
  }
  const deadline = new AbortController();
  const timer = setTimeout(
    () =>
      deadline.abort(new TimeoutError(`${route.namespace}/${route.name} did not answer within ${target.timeoutMs} ms`)),
    target.timeoutMs,
  );
  const clientGone = (): void => {
    if (!res.writableFinished) deadline.abort(new UnavailableError('client closed the connection'));
  };
  res.once('close', clientGone);

  let slot: Slot;
  try {
    slot = await target.pool.acquire(deadline.signal);
  } catch (e) {
    clearTimeout(timer);
    req.resume();
    sendError(res, e);
    return;
  }
  res.once('close', () => {
    clearTimeout(timer);
    slot.release();
    options.record?.(requestRecord(req, res, route, slot.pod, startMs));
  });
  if (deadline.signal.aborted) {
    sendError(res, deadline.signal.reason);
    return;
  }

  const upstream = request({
    host: '127.0.0.1',
    port: slot.port,
    method: req.method,
    path: route.path,
    headers: forwardHeaders(req, route),
    agent: slot.agent,
  });
  deadline.signal.addEventListener(
    'abort',
    () => {
      upstream.destroy();
      sendError(res, deadline.signal.reason);
    },
    { once: true },
  );
  let answered = false;
  upstream.once('response', (answer) => {
    answered = true;
    if (req.complete) {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaders(answer.rawHeaders));
      pipeline(answer, res, () => undefined);
    } else passEarlyAnswer(req, upstream, answer, res);
  });
  upstream.once('error', (e) => {
    if (deadline.signal.aborted) return;
    // After an early answer the worker may close under the rest of the body: not a failure.
    if (answered && !req.complete) return;
    options.logger.warn(`${route.namespace}/${route.name}: pod ${slot.pod}: ${e.message}`);
    badGateway(res, `pod ${slot.pod} of ${route.namespace}/${route.name} failed: ${e.message}`);
  });
  // Not pipeline(): it would destroy the client's request (and connection) along with the
  // upstream request that an early answer ends.
  req.once('error', () => upstream.destroy());
  req.pipe(upstream);
}

/**
 * The worker answered before the client finished sending (a 413 for an oversized body, say).
 * The answer goes to the client whole, on a connection that then closes; meanwhile the rest of
 * the body is read and dropped, bounded in bytes and time, so the client, still sending, reads
 * the answer instead of meeting a reset (the lingering close of HTTP servers).
 */
function passEarlyAnswer(
  req: IncomingMessage,
  upstream: ClientRequest,
  answer: IncomingMessage,
  res: ServerResponse,
): void {
  req.unpipe(upstream);
  res.shouldKeepAlive = false;
  res.writeHead(answer.statusCode ?? 502, answer.statusMessage, [
    ...responseHeaders(answer.rawHeaders),
    'Connection',
    'close',
  ]);
  let answerDone = false;
  let lingerDone = false;
  const finish = (): void => {
    if (answerDone && lingerDone && !res.writableEnded && !res.destroyed) res.end();
  };
  lingerOnBody(req, { maxBytes: LINGER_MAX_BYTES, ms: LINGER_MS }, () => {
    lingerDone = true;
    finish();
  });
  req.resume();
  answer.on('data', (chunk: Buffer) => res.write(chunk));
  answer.once('end', () => {
    // The request to the worker was never finished: its connection cannot be reused.
    upstream.destroy();
    answerDone = true;
    finish();
  });
  answer.once('error', () => res.destroy());
}

function requestRecord(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  pod: string,
  startMs: number,
): RequestRecord {
  const ce: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers))
    if (name.startsWith('ce-') && typeof value === 'string') ce[name.slice(3)] = value;
  return {
    namespace: route.namespace,
    name: route.name,
    pod,
    method: req.method ?? 'GET',
    path: route.path.split('?')[0] ?? route.path,
    status: res.statusCode,
    startMs,
    endMs: Date.now(),
    requestBytes: Number(req.headers['content-length'] ?? 0) || 0,
    ce,
  };
}

function forwardHeaders(req: IncomingMessage, route: Route): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (!NOT_FORWARDED.has(name)) out[name] = value;
  const peer = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
  out['x-forwarded-proto'] = 'http';
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host;
  if (route.prefix) out['x-forwarded-prefix'] = route.prefix;
  return out;
}

function responseHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1] ?? '');
  }
  return out;
}

/** HTTP/1.1 upgrade: once a slot is free, the raw bytes flow both ways until either side closes. */
async function upgrade(options: IngressOptions, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy());
  let resolved: { route: Route; target: IngressTarget };
  const gone = new AbortController();
  socket.once('close', () => gone.abort(new UnavailableError('client closed the connection')));
  let slot: Slot;
  try {
    resolved = resolveTarget(options, req);
    slot = await resolved.target.pool.acquire(gone.signal);
  } catch (e) {
    const { status, body } = errorResponse(e);
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
    return;
  }
  const { route } = resolved;
  const upstream = connect({ host: '127.0.0.1', port: slot.port });
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    upstream.destroy();
    socket.destroy();
    slot.release();
  };
  upstream.once('error', finish);
  upstream.once('close', finish);
  socket.once('close', finish);
  upstream.once('connect', () => {
    const lines = [`${req.method ?? 'GET'} ${route.path} HTTP/1.1`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
      lines.push(`${req.rawHeaders[i] ?? ''}: ${req.rawHeaders[i + 1] ?? ''}`);
    if (route.prefix) lines.push(`X-Forwarded-Prefix: ${route.prefix}`);
    lines.push(`X-Forwarded-For: ${req.socket.remoteAddress ?? ''}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream).pipe(socket);
  });
}
