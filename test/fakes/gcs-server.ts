// A wire-level fake of the Google Cloud Storage JSON API on an ephemeral loopback port, enough
// for the real @google-cloud/storage client: object metadata (custom metadata kept), media download, multipart/media
// and resumable uploads (sessions, chunks with Content-Range, status queries), list with prefix
// and pagination, delete, ifGenerationMatch preconditions (412), increasing generations,
// crc32c/md5 hashes the client validates, and fault injection to prove retries: `failNext`
// answers an error with no effect, `loseAnswerNext` does the work and then loses the answer (an
// error status or a reset connection), as a request that committed before its answer was lost.
// Tests point the client at `fake.endpoint` (apiEndpoint); no real GCS is ever contacted.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeObject {
  bucket: string;
  name: string;
  data: Buffer;
  generation: number;
  contentType: string;
  updated: string;
  /** Custom metadata (the resource's `metadata` map), as the uploader sent it. */
  metadata: Record<string, string>;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

interface Fault {
  remaining: number;
  /** An HTTP status, or 'reset': the connection is destroyed with no answer. */
  answer: number | 'reset';
  /** Whether the request takes effect before its answer is lost. */
  commits: boolean;
  matches: (request: LoggedRequest) => boolean;
}

interface UploadSession {
  bucket: string;
  name: string;
  contentType: string;
  metadata: Record<string, string>;
  ifGenerationMatch: string | undefined;
  chunks: Buffer[];
  size: number;
  done: FakeObject | undefined;
}

export interface FakeGcsOptions {
  /** Largest page a list answers (the client's maxResults may ask for less); default 1000. */
  pageSize?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

export class FakeGcsServer {
  /** Every request answered, in order (faults included). */
  readonly requests: LoggedRequest[] = [];
  private readonly objects = new Map<string, FakeObject>();
  private readonly sessions = new Map<string, UploadSession>();
  private readonly faults: Fault[] = [];
  private readonly hooks: { matches: (request: LoggedRequest) => boolean; action: () => void }[] = [];
  private nextGeneration = 1_000_001;
  private pageSize: number;

  private readonly server: Server;
  private address = '';

  private constructor(options: FakeGcsOptions) {
    this.pageSize = options.pageSize ?? 1000;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Starts a fake on 127.0.0.1 and an ephemeral port. */
  static async start(options: FakeGcsOptions = {}): Promise<FakeGcsServer> {
    const fake = new FakeGcsServer(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address: string | AddressInfo | null = fake.server.address();
    if (address === null || typeof address === 'string') throw new Error('the fake GCS server has no TCP address');
    fake.address = `http://127.0.0.1:${address.port}`;
    return fake;
  }

  /** The base URL to give the client as `apiEndpoint`. */
  get endpoint(): string {
    return this.address;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  /** The next `count` requests that match (all by default) are answered `status`, with no effect. */
  failNext(count: number, status = 503, matches: (request: LoggedRequest) => boolean = () => true): void {
    this.faults.push({ remaining: count, answer: status, commits: false, matches });
  }

  /**
   * The next `count` requests that match are carried out (an upload commits), and then their
   * answer is lost: `answer` is sent instead (a status, default 503), or with 'reset' the
   * connection is destroyed. A client that retries meets the effect of its first attempt.
   */
  loseAnswerNext(
    count: number,
    matches: (request: LoggedRequest) => boolean = () => true,
    answer: number | 'reset' = 503,
  ): void {
    this.faults.push({ remaining: count, answer, commits: true, matches });
  }

  /** Drops pending faults and hooks. */
  reset(): void {
    this.faults.length = 0;
    this.hooks.length = 0;
  }

  /** Runs `action` just before the next matching request is handled (to stage a race). */
  beforeNext(matches: (request: LoggedRequest) => boolean, action: () => void): void {
    this.hooks.push({ matches, action });
  }

  setPageSize(size: number): void {
    this.pageSize = size;
  }

  getObject(bucket: string, name: string): FakeObject | undefined {
    return this.objects.get(key(bucket, name));
  }

  putObject(bucket: string, name: string, data: Uint8Array, contentType = 'application/octet-stream'): FakeObject {
    return this.commit(bucket, name, Buffer.from(data), contentType, undefined, {});
  }

  listObjects(bucket: string): FakeObject[] {
    return [...this.objects.values()].filter((o) => o.bucket === bucket).sort((a, b) => compare(a.name, b.name));
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.endpoint);
    const logged: LoggedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    };
    this.requests.push(logged);
    try {
      const body = await readBody(req);
      const hook = this.hooks.findIndex((h) => h.matches(logged));
      if (hook >= 0) this.hooks.splice(hook, 1)[0]?.action();
      const fault = this.faults.find((f) => f.remaining > 0 && f.matches(logged));
      if (fault) {
        fault.remaining--;
        // The real answer goes to a response with no socket, which only buffers it.
        if (fault.commits) this.route(req, url, body, new ServerResponse(req));
        if (fault.answer === 'reset') {
          logged.status = 0;
          req.socket.destroy();
          return;
        }
        throw new HttpError(fault.answer, 'injected fault', fault.answer === 503 ? 'backendError' : 'injected');
      }
      this.route(req, url, body, res);
    } catch (e) {
      const error = e instanceof HttpError ? e : new HttpError(500, (e as Error).message, 'internalError');
      sendJson(res, error.status, {
        error: {
          code: error.status,
          message: error.message,
          errors: [{ message: error.message, domain: 'global', reason: error.reason }],
        },
      });
    }
    logged.status = res.statusCode;
  }

  private route(req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): void {
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const method = req.method ?? 'GET';
    // /upload/storage/v1/b/:bucket/o
    if (parts[0] === 'upload' && parts[1] === 'storage' && parts[3] === 'b' && parts[5] === 'o' && parts.length === 6) {
      const bucket = decodeURIComponent(parts[4] ?? '');
      const uploadType = url.searchParams.get('uploadType');
      if (method === 'POST' && uploadType === 'multipart') return this.multipartUpload(req, url, bucket, body, res);
      if (method === 'POST' && uploadType === 'media') return this.mediaUpload(req, url, bucket, body, res);
      if (method === 'POST' && uploadType === 'resumable') return this.startResumable(req, url, bucket, body, res);
      if (method === 'PUT' && url.searchParams.has('upload_id')) return this.resumableChunk(req, url, body, res);
      if (method === 'DELETE' && url.searchParams.has('upload_id')) {
        this.sessions.delete(url.searchParams.get('upload_id') ?? '');
        res.writeHead(499).end();
        return;
      }
    }
    // /storage/v1/b/:bucket/o[/:object]  and  /download/storage/v1/b/:bucket/o/:object
    const api = parts[0] === 'download' ? parts.slice(1) : parts;
    if (api[0] === 'storage' && api[2] === 'b' && api[4] === 'o') {
      const bucket = decodeURIComponent(api[3] ?? '');
      if (api.length === 5 && method === 'GET') return this.list(url, bucket, res);
      if (api.length >= 6) {
        const name = api.slice(5).map(decodeURIComponent).join('/');
        if (method === 'GET' && url.searchParams.get('alt') === 'media') return this.download(url, bucket, name, res);
        if (method === 'GET') return sendJson(res, 200, this.resource(this.current(url, bucket, name)));
        if (method === 'DELETE') {
          const object = this.current(url, bucket, name);
          checkPrecondition(url.searchParams.get('ifGenerationMatch') ?? undefined, object);
          this.objects.delete(key(bucket, name));
          res.writeHead(204).end();
          return;
        }
      }
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`, 'notFound');
  }

  /** The live object, or 404; with ?generation=N, only if N is still the live generation. */
  private current(url: URL, bucket: string, name: string): FakeObject {
    const object = this.objects.get(key(bucket, name));
    const generation = url.searchParams.get('generation');
    if (!object || (generation !== null && String(object.generation) !== generation)) {
      throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
    }
    return object;
  }

  private download(url: URL, bucket: string, name: string, res: ServerResponse): void {
    const object = this.current(url, bucket, name);
    res.writeHead(200, {
      'content-type': object.contentType,
      'content-length': object.data.length,
      'x-goog-generation': String(object.generation),
      'x-goog-metageneration': '1',
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(object.data.length),
      'x-goog-hash': `crc32c=${crc32cBase64(object.data)},md5=${md5Base64(object.data)}`,
    });
    res.end(object.data);
  }

  private list(url: URL, bucket: string, res: ServerResponse): void {
    const prefix = url.searchParams.get('prefix') ?? '';
    const after = url.searchParams.get('pageToken');
    const startAfter = after === null ? undefined : Buffer.from(after, 'base64url').toString('utf8');
    const asked = Number(url.searchParams.get('maxResults') ?? this.pageSize);
    const size = Math.max(1, Math.min(this.pageSize, Number.isFinite(asked) && asked > 0 ? asked : this.pageSize));
    const matching = this.listObjects(bucket).filter(
      (o) => o.name.startsWith(prefix) && (startAfter === undefined || o.name > startAfter),
    );
    const page = matching.slice(0, size);
    const last = page[page.length - 1];
    sendJson(res, 200, {
      kind: 'storage#objects',
      ...(page.length > 0 ? { items: page.map((o) => this.resource(o)) } : {}),
      ...(matching.length > size && last
        ? { nextPageToken: Buffer.from(last.name, 'utf8').toString('base64url') }
        : {}),
    });
  }

  private multipartUpload(req: IncomingMessage, url: URL, bucket: string, body: Buffer, res: ServerResponse): void {
    const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
    if (!boundary) throw new HttpError(400, 'multipart upload without a boundary', 'invalid');
    const [metaPart, mediaPart] = splitMultipart(body, boundary);
    if (!metaPart || !mediaPart)
      throw new HttpError(400, 'multipart upload needs a metadata part and a media part', 'invalid');
    const metadata = JSON.parse(metaPart.body.toString('utf8')) as UploadMetadata;
    const name = url.searchParams.get('name') ?? metadata.name;
    if (!name) throw new HttpError(400, 'object name missing', 'required');
    const contentType = metadata.contentType ?? mediaPart.headers['content-type'] ?? 'application/octet-stream';
    const object = this.commit(
      bucket,
      name,
      mediaPart.body,
      contentType,
      url.searchParams.get('ifGenerationMatch') ?? undefined,
      customMetadata(metadata),
    );
    sendJson(res, 200, this.resource(object));
  }

  private mediaUpload(req: IncomingMessage, url: URL, bucket: string, body: Buffer, res: ServerResponse): void {
    const name = url.searchParams.get('name');
    if (!name) throw new HttpError(400, 'object name missing', 'required');
    const object = this.commit(
      bucket,
      name,
      body,
      req.headers['content-type'] ?? 'application/octet-stream',
      url.searchParams.get('ifGenerationMatch') ?? undefined,
      {},
    );
    sendJson(res, 200, this.resource(object));
  }

  private startResumable(req: IncomingMessage, url: URL, bucket: string, body: Buffer, res: ServerResponse): void {
    const metadata = (body.length > 0 ? JSON.parse(body.toString('utf8')) : {}) as UploadMetadata;
    const name = url.searchParams.get('name') ?? metadata.name;
    if (!name) throw new HttpError(400, 'object name missing', 'required');
    const ifGenerationMatch = url.searchParams.get('ifGenerationMatch') ?? undefined;
    checkPrecondition(ifGenerationMatch, this.objects.get(key(bucket, name)));
    const id = randomUUID();
    const contentType = String(
      req.headers['x-upload-content-type'] ?? metadata.contentType ?? 'application/octet-stream',
    );
    this.sessions.set(id, {
      bucket,
      name,
      contentType,
      metadata: customMetadata(metadata),
      ifGenerationMatch,
      chunks: [],
      size: 0,
      done: undefined,
    });
    const location = new URL(`/upload/storage/v1/b/${encodeURIComponent(bucket)}/o`, this.endpoint);
    location.searchParams.set('uploadType', 'resumable');
    location.searchParams.set('name', name);
    location.searchParams.set('upload_id', id);
    res.writeHead(200, { location: location.toString(), 'content-length': 0 }).end();
  }

  private resumableChunk(req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): void {
    const session = this.sessions.get(url.searchParams.get('upload_id') ?? '');
    if (!session) throw new HttpError(404, 'no such upload session', 'notFound');
    const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(String(req.headers['content-range'] ?? 'bytes */*'));
    if (!range) throw new HttpError(400, `bad Content-Range ${String(req.headers['content-range'])}`, 'invalid');
    const total = range[4] === '*' ? undefined : Number(range[4]);
    if (range[1] !== '*') {
      if (session.done) return sendJson(res, 200, this.resource(session.done));
      const first = Number(range[2]);
      if (first > session.size)
        throw new HttpError(400, `chunk starts at ${first}, ${session.size} bytes received`, 'invalid');
      // A resent chunk may overlap what already arrived: keep only the new bytes.
      const fresh = body.subarray(session.size - first);
      session.chunks.push(fresh);
      session.size += fresh.length;
      const openEnded = range[3] === '*';
      if ((total !== undefined && session.size >= total) || (openEnded && total === undefined)) {
        const data = Buffer.concat(session.chunks);
        checkHashes(req.headers['x-goog-hash'], data);
        session.done = this.commit(
          session.bucket,
          session.name,
          data,
          session.contentType,
          session.ifGenerationMatch,
          session.metadata,
        );
        return sendJson(res, 200, this.resource(session.done));
      }
    } else if (session.done) {
      return sendJson(res, 200, this.resource(session.done));
    }
    res
      .writeHead(
        308,
        session.size > 0 ? { range: `bytes=0-${session.size - 1}`, 'content-length': 0 } : { 'content-length': 0 },
      )
      .end();
  }

  private commit(
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    ifGenerationMatch: string | undefined,
    metadata: Record<string, string>,
  ): FakeObject {
    checkPrecondition(ifGenerationMatch, this.objects.get(key(bucket, name)));
    const object: FakeObject = {
      bucket,
      name,
      data,
      generation: this.nextGeneration++,
      contentType,
      updated: new Date().toISOString(),
      metadata,
    };
    this.objects.set(key(bucket, name), object);
    return object;
  }

  private resource(object: FakeObject): Record<string, unknown> {
    const id = `${object.bucket}/${object.name}/${object.generation}`;
    return {
      kind: 'storage#object',
      id,
      selfLink: `${this.endpoint}/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}`,
      mediaLink: `${this.endpoint}/download/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}?generation=${object.generation}&alt=media`,
      name: object.name,
      bucket: object.bucket,
      generation: String(object.generation),
      metageneration: '1',
      contentType: object.contentType,
      size: String(object.data.length),
      md5Hash: md5Base64(object.data),
      crc32c: crc32cBase64(object.data),
      etag: Buffer.from(id).toString('base64'),
      timeCreated: object.updated,
      updated: object.updated,
      storageClass: 'STANDARD',
      ...(Object.keys(object.metadata).length > 0 ? { metadata: object.metadata } : {}),
    };
  }
}

interface UploadMetadata {
  name?: string;
  contentType?: string;
  metadata?: Record<string, unknown>;
}

/** The string values of an upload's custom metadata (GCS keeps strings only). */
function customMetadata(upload: UploadMetadata): Record<string, string> {
  return Object.fromEntries(
    Object.entries(upload.metadata ?? {}).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
  );
}

function checkPrecondition(ifGenerationMatch: string | undefined, existing: FakeObject | undefined): void {
  if (ifGenerationMatch === undefined) return;
  const current = existing ? String(existing.generation) : '0';
  if (current !== ifGenerationMatch)
    throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
}

function checkHashes(header: string | string[] | undefined, data: Buffer): void {
  for (const pair of String(header ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const [kind, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
    const actual = kind === 'crc32c' ? crc32cBase64(data) : kind === 'md5' ? md5Base64(data) : value;
    if (actual !== value)
      throw new HttpError(400, `${kind} mismatch: sent ${value}, received data hash to ${actual}`, 'invalid');
  }
}

function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // drop the CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const headerText = split < 0 ? '' : part.subarray(0, split).toString('utf8');
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: split < 0 ? part : part.subarray(split + 4) });
    at = next;
  }
  return parts;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function key(bucket: string, name: string): string {
  return `${bucket}\u0000${name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as GCS reports it: big-endian, base64.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function crc32cBase64(data: Uint8Array): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32c(data));
  return out.toString('base64');
}
