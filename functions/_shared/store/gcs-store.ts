// The gs:// store on the official @google-cloud/storage client. GCS object writes are atomic by
// nature; create-only writes and pointer swaps use generation preconditions (ifGenerationMatch:
// 0 to create, the current generation to replace), so a lost race is a 412 → ConflictError.
// Each HTTP request has a timeout, and each store call as a whole has a deadline. Transient
// failures (429, 5xx, resets) are retried by the client for reads, lists, deletes and writes with
// a precondition; a write without one is tried once (a blind retry could overwrite a newer object
// written in between), and its caller retries the whole operation. A conditional write carries a
// tag of its own in its custom metadata, so a retry that meets a 412 because its first attempt
// committed (the answer lost on the way) recognises the object as its own write, not a conflict.
import { randomUUID } from 'node:crypto';
import { IdempotencyStrategy, Storage, type File } from '@google-cloud/storage';
import type * as tf from '@tensorflow/tfjs';
import {
  ConflictError,
  ForbiddenPathError,
  KaskadeError,
  NotFoundError,
  PayloadTooLargeError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import { createModelHandler } from './model-handler.js';
import type { ReadOptions, Store, WriteOptions } from './types.js';
import { StoreRoots } from './url.js';

export interface GcsStoreOptions {
  /** Another endpoint than storage.googleapis.com (an emulator or a fake); disables auth there. */
  apiEndpoint?: string;
  projectId?: string;
  /** Per HTTP request (default 60 s). */
  requestTimeoutMs?: number;
  /** Per store call, retries included (default 5 min). */
  operationTimeoutMs?: number;
  /** Retries of a transient failure (default 5). */
  maxRetries?: number;
  /** Cap on the backoff between retries (default 16 s; at least 1 s, the upload retry's first delay). */
  maxRetryDelayMs?: number;
  /** Objects at least this large upload resumably (default 8 MiB). */
  resumableThresholdBytes?: number;
  /** Resumable upload chunk; a multiple of 256 KiB (default 8 MiB). */
  chunkBytes?: number;
}

const CHUNK_QUANTUM = 256 * 1024;
/** Custom metadata key holding the id of the conditional write that created a generation. */
export const WRITE_TAG = 'kaskade-write';

export class GcsStore implements Store {
  private readonly roots: StoreRoots;
  private readonly storage: Storage;
  /** The same client with retries off: unconditional writes only. */
  private readonly unretried: Storage;
  private readonly operationTimeoutMs: number;
  private readonly resumableThresholdBytes: number;
  private readonly chunkBytes: number;

  constructor(roots: readonly string[], options: GcsStoreOptions = {}) {
    this.roots = new StoreRoots(roots);
    if (this.roots.roots.some((root) => root.scheme !== 'gs'))
      throw new ForbiddenPathError('GcsStore roots must be gs:// URLs');
    this.chunkBytes = options.chunkBytes ?? 8 * 1024 * 1024;
    if (this.chunkBytes <= 0 || this.chunkBytes % CHUNK_QUANTUM !== 0)
      throw new RangeError(`chunkBytes must be a positive multiple of ${CHUNK_QUANTUM}`);
    this.resumableThresholdBytes = options.resumableThresholdBytes ?? 8 * 1024 * 1024;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 300_000;
    // The client's upload retry (async-retry) starts at 1 s and refuses a smaller cap.
    const maxRetryDelayMs = Math.max(1000, options.maxRetryDelayMs ?? 16_000);
    const common = {
      ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }),
      ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
      timeout: options.requestTimeoutMs ?? 60_000,
    };
    this.storage = new Storage({
      ...common,
      retryOptions: {
        autoRetry: true,
        maxRetries: options.maxRetries ?? 5,
        retryDelayMultiplier: 2,
        maxRetryDelay: maxRetryDelayMs / 1000,
        totalTimeout: this.operationTimeoutMs / 1000,
        // Only conditional writes go through this client, so retrying every call is what
        // RetryConditional would do. (Under RetryConditional the v7 client also switches retries
        // off for the whole Storage instance after one unconditional upload: hence two clients.)
        idempotencyStrategy: IdempotencyStrategy.RetryAlways,
      },
    });
    this.unretried = new Storage({
      ...common,
      retryOptions: { autoRetry: false, maxRetries: 0, idempotencyStrategy: IdempotencyStrategy.RetryNever },
    });
  }

  async read(url: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const file = this.file(url);
    return this.call('read', url, async () => {
      if (options.maxBytes === undefined) return toBytes((await file.download())[0]);
      // Size first, then exactly that generation: the size checked is the size read. An object
      // replaced in between (404 for the old generation) is read again.
      for (let attempt = 1; ; attempt++) {
        const [metadata] = await file.getMetadata();
        const size = Number(metadata.size);
        if (size > options.maxBytes)
          throw new PayloadTooLargeError(`${url} is ${size} bytes, over the limit of ${options.maxBytes}`);
        try {
          return toBytes(
            (await file.bucket.file(file.name, { generation: String(metadata.generation) }).download())[0],
          );
        } catch (e) {
          if (statusOf(e) !== 404 || attempt >= 3) throw e;
        }
      }
    });
  }

  async write(url: string, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const file = this.file(url);
    await this.call('write', url, () =>
      this.upload(file, data, options.contentType, options.ifAbsent === true ? 0 : undefined),
    );
  }

  async exists(url: string): Promise<boolean> {
    const file = this.file(url);
    return this.call('exists', url, async () => (await file.exists())[0]);
  }

  async list(prefixUrl: string): Promise<string[]> {
    const prefix = this.roots.confine(prefixUrl, 'gs');
    const bucket = this.storage.bucket(prefix.bucket);
    const key = prefix.segments.join('/') + (prefix.folder && prefix.segments.length > 0 ? '/' : '');
    return this.call('list', prefixUrl, async () => {
      const [files] = await bucket.getFiles({ prefix: key, autoPaginate: true });
      return files.map((f) => `gs://${prefix.bucket}/${f.name}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    });
  }

  async delete(url: string): Promise<void> {
    const file = this.file(url);
    await this.call('delete', url, async () => {
      await file.delete();
    });
  }

  async swapPointer(url: string, expected: string | undefined, next: string): Promise<void> {
    const file = this.file(url);
    await this.call('swapPointer', url, async () => {
      const { generation, content } = await readPointer(file);
      if (content !== expected)
        throw new ConflictError(`${url} is ${describe(content)}, expected ${describe(expected)}`);
      // Replaces exactly the generation whose content was compared (0: only if still absent).
      await this.upload(file, new TextEncoder().encode(next), 'text/plain; charset=utf-8', generation);
    });
  }

  modelHandler(folderUrl: string): tf.io.IOHandler {
    this.roots.confine(folderUrl, 'gs');
    return createModelHandler(this, folderUrl);
  }

  private file(url: string): File {
    const location = this.roots.confineObject(url, 'gs');
    return this.storage.bucket(location.bucket).file(location.segments.join('/'));
  }

  private async upload(
    file: File,
    data: Uint8Array,
    contentType: string | undefined,
    ifGenerationMatch: string | number | undefined,
  ): Promise<void> {
    const resumable = data.byteLength >= this.resumableThresholdBytes;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const shape = {
      resumable,
      ...(resumable ? { chunkSize: this.chunkBytes } : {}),
      ...(contentType === undefined ? {} : { contentType }),
    };
    if (ifGenerationMatch === undefined) {
      await this.unretried.bucket(file.bucket.name).file(file.name).save(bytes, shape);
      return;
    }
    const tag = randomUUID();
    try {
      await file.save(bytes, {
        ...shape,
        metadata: { metadata: { [WRITE_TAG]: tag } },
        preconditionOpts: { ifGenerationMatch },
      });
    } catch (e) {
      // A retry whose first attempt committed meets that attempt's object: it is ours.
      if (statusOf(e) === 412 && (await writtenBy(file)) === tag) return;
      throw e;
    }
  }

  /** Runs one store call under its deadline and turns client errors into typed errors. */
  private async call<T>(operation: string, url: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TimeoutError(`${operation} ${url} took over ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (e) {
      throw asStoreError(operation, url, e);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The tag of the write that created the object's live generation (undefined: none, or gone). */
async function writtenBy(file: File): Promise<string | undefined> {
  try {
    const tag = (await file.getMetadata())[0].metadata?.[WRITE_TAG];
    return typeof tag === 'string' ? tag : undefined;
  } catch {
    return undefined;
  }
}

/** The pointer's generation ('0' when absent) and its content at exactly that generation. */
async function readPointer(file: File): Promise<{ generation: string; content: string | undefined }> {
  let generation: string;
  try {
    generation = String((await file.getMetadata())[0].generation);
  } catch (e) {
    if (statusOf(e) === 404) return { generation: '0', content: undefined };
    throw e;
  }
  try {
    const [bytes] = await file.bucket.file(file.name, { generation }).download();
    return { generation, content: bytes.toString('utf8') };
  } catch (e) {
    // Replaced or deleted between the two calls: another writer got there first.
    if (statusOf(e) === 404) throw new ConflictError(`${file.name} changed while it was being read`, { cause: e });
    throw e;
  }
}

function toBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The HTTP status behind a client error: ApiError.code, a gaxios response, or an upload's status. */
function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, status, response } = e as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  for (const candidate of [code, status, response?.status]) {
    if (typeof candidate === 'number') return candidate;
    if (typeof candidate === 'string' && /^\d{3}$/.test(candidate)) return Number(candidate);
  }
  return undefined;
}

function asStoreError(operation: string, url: string, e: unknown): KaskadeError {
  if (e instanceof KaskadeError) return e;
  const status = statusOf(e);
  const detail = `${operation} ${url}: ${(e as Error).message}`;
  if (status === 404) return new NotFoundError(`${url} does not exist`, { cause: e });
  if (status === 412)
    return new ConflictError(`${operation} ${url}: a generation precondition failed (another writer got there first)`, {
      cause: e,
    });
  if (status === 413) return new PayloadTooLargeError(detail, { cause: e });
  return new UnavailableError(status === undefined ? detail : `${detail} (HTTP ${status})`, { cause: e });
}

function describe(value: string | undefined): string {
  return value === undefined ? 'absent' : JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
