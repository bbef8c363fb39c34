// The file:// store: a local folder, or the NFS/PVC volume mounted in a pod. Writes go to a temp
// file in the same folder, are fsynced, then renamed over the target (and the folder fsynced),
// so a reader sees the old object or the new one, never half. Create-only writes use link(2),
// which fails if the target exists; pointer swaps hold a lock file created with O_EXCL.
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
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
import { RESERVED_PREFIX, StoreRoots, formatStoreUrl, type StoreLocation } from './url.js';

export interface FileStoreOptions {
  /** How long swapPointer waits for another writer's lock before TimeoutError (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * A lock older than this is from a crashed writer and is broken (default 30 s). A lock whose
   * holder is a process of this host and PID namespace that no longer runs is broken at once.
   */
  staleLockMs?: number;
}

export class FileStore implements Store {
  private readonly roots: StoreRoots;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(roots: readonly string[], options: FileStoreOptions = {}) {
    this.roots = new StoreRoots(roots);
    if (this.roots.roots.some((root) => root.scheme !== 'file'))
      throw new ForbiddenPathError('FileStore roots must be file:// URLs');
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
  }

  async read(url: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const path = this.objectPath(url);
    return fsCall(url, async () => {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (options.maxBytes !== undefined && size > options.maxBytes) {
          throw new PayloadTooLargeError(`${url} is ${size} bytes, over the limit of ${options.maxBytes}`);
        }
        return new Uint8Array(await handle.readFile());
      } finally {
        await handle.close();
      }
    });
  }

  async write(url: string, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const path = this.objectPath(url);
    await fsCall(url, () => writeAtomically(path, data, options.ifAbsent === true, url));
  }

  async exists(url: string): Promise<boolean> {
    const path = this.objectPath(url);
    try {
      return (await stat(path)).isFile();
    } catch (e) {
      if (isMissing(e)) return false;
      throw asStoreError(url, e);
    }
  }

  async list(prefixUrl: string): Promise<string[]> {
    const prefix = this.roots.confine(prefixUrl, 'file');
    // A prefix is a string prefix of object URLs (as on GCS): walk the folder that contains it.
    const folderSegments = prefix.folder ? prefix.segments : prefix.segments.slice(0, -1);
    const namePrefix = prefix.folder ? '' : (prefix.segments[prefix.segments.length - 1] ?? '');
    const found: string[] = [];
    await fsCall(prefixUrl, () => walk(folderSegments, namePrefix, found));
    return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(url: string): Promise<void> {
    const path = this.objectPath(url);
    await fsCall(url, async () => {
      if (!(await stat(path)).isFile()) throw new NotFoundError(`${url} is not an object`);
      await unlink(path);
      await syncFolder(dirname(path));
    });
  }

  async swapPointer(url: string, expected: string | undefined, next: string): Promise<void> {
    const path = this.objectPath(url);
    await fsCall(url, async () => {
      await mkdir(dirname(path), { recursive: true });
      await this.withLock(sideFile(path, 'lock'), url, async () => {
        const current = await readText(path);
        if (current !== expected) {
          throw new ConflictError(`${url} is ${describe(current)}, expected ${describe(expected)}`);
        }
        await writeAtomically(path, new TextEncoder().encode(next), false, url);
      });
    });
  }

  modelHandler(folderUrl: string): tf.io.IOHandler {
    this.roots.confine(folderUrl, 'file');
    return createModelHandler(this, folderUrl);
  }

  private objectPath(url: string): string {
    return locationPath(this.roots.confineObject(url, 'file'));
  }

  /**
   * Runs `fn` holding `lockPath` (created with O_EXCL). Waits with backoff while another writer
   * holds it; breaks a lock older than staleLockMs, which only a crashed writer leaves behind.
   */
  private async withLock<T>(lockPath: string, url: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(lockPath, 'wx');
        await writeAndClose(
          handle,
          new TextEncoder().encode(`${process.pid}@${hostname()} ${new Date().toISOString()} ${PID_NAMESPACE}\n`),
        );
        break;
      } catch (e) {
        if (!isCode(e, 'EEXIST')) throw e;
      }
      if (await breakStaleLock(lockPath, this.staleLockMs)) continue;
      if (Date.now() >= deadline)
        throw new TimeoutError(`${url}: another writer held the pointer lock for over ${this.lockTimeoutMs} ms`);
      await sleep(Math.min(50, 2 ** attempt) * (0.5 + Math.random()));
    }
    try {
      return await fn();
    } finally {
      await unlink(lockPath).catch((e: unknown) => {
        // Broken as stale by another writer: nothing left to release.
        if (!isMissing(e)) throw e;
      });
    }
  }
}

async function writeAtomically(path: string, data: Uint8Array, ifAbsent: boolean, url: string): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true });
  const temp = sideFile(path, `${randomUUID()}.tmp`);
  try {
    await writeAndClose(await open(temp, 'wx', 0o644), data, { sync: true });
    if (ifAbsent) {
      try {
        await link(temp, path);
      } catch (e) {
        if (isCode(e, 'EEXIST')) throw new ConflictError(`${url} already exists`, { cause: e });
        throw e;
      }
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
  } catch (e) {
    // The temp file is hidden from list() and never read; removing it is tidiness, and the
    // original error is the one that matters to the caller.
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  await syncFolder(folder);
}

async function writeAndClose(handle: FileHandle, data: Uint8Array, options: { sync?: boolean } = {}): Promise<void> {
  try {
    await handle.writeFile(data);
    if (options.sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or unlink durable. Some filesystems cannot fsync a folder; that is not an error. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } catch (e) {
    if (!isCode(e, 'EINVAL') && !isCode(e, 'EISDIR') && !isCode(e, 'EPERM') && !isCode(e, 'ENOTSUP')) throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Breaks `lockPath` if it is older than `staleMs`. The lock is first renamed to a unique name
 * (atomic), then checked to be the very file judged stale; had a fresh lock replaced it in
 * between, it is linked back. Returns whether the caller should retry at once.
 */
async function breakStaleLock(lockPath: string, staleMs: number): Promise<boolean> {
  let judged;
  let holder;
  try {
    judged = await stat(lockPath);
    holder = await readFile(lockPath, 'utf8');
  } catch (e) {
    if (isMissing(e)) return true;
    throw e;
  }
  if (Date.now() - judged.mtimeMs < staleMs && !holderIsGone(holder)) return false;
  const moved = `${lockPath}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, moved);
  } catch (e) {
    if (isMissing(e)) return true;
    throw e;
  }
  if ((await stat(moved)).ino !== judged.ino) {
    await link(moved, lockPath).catch((e: unknown) => {
      if (!isCode(e, 'EEXIST')) throw e;
    });
  }
  await unlink(moved);
  return true;
}

/** This process's PID namespace (Linux: `pid:[inode]`), or '' where there is none to read. */
const PID_NAMESPACE = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
})();

/**
 * Whether a lock's holder (`<pid>@<host> <time> <pid namespace>`) is known to be gone: a process
 * of this host and PID namespace (a pod killed and restarted on a shared volume, a crashed local
 * worker) that no longer runs. Another host, namespace or an unreadable lock: not known, so the
 * lock is left to age (a reused pid reads as alive, which only delays).
 */
function holderIsGone(lock: string): boolean {
  const match = /^(\d+)@(\S+) \S+ (\S+)\n?$/.exec(lock);
  if (!match || PID_NAMESPACE === '' || match[2] !== hostname() || match[3] !== PID_NAMESPACE) return false;
  const pid = Number(match[1]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return isCode(e, 'ESRCH');
  }
}

async function walk(segments: string[], namePrefix: string, found: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(join('/', ...segments), { withFileTypes: true });
  } catch (e) {
    if (isMissing(e)) return;
    throw e;
  }
  for (const entry of entries) {
    if (!entry.name.startsWith(namePrefix) || entry.name.startsWith(RESERVED_PREFIX)) continue;
    const child = [...segments, entry.name];
    if (entry.isDirectory()) await walk(child, '', found);
    else if (entry.isFile()) found.push(formatStoreUrl({ scheme: 'file', bucket: '', segments: child, folder: false }));
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    const handle = await open(path, 'r');
    try {
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

function locationPath(location: StoreLocation): string {
  return join('/', ...location.segments);
}

/** A file the store keeps beside `path` (temp file, lock): hidden from list, unaddressable by URL. */
function sideFile(path: string, suffix: string): string {
  const name = path.slice(dirname(path).length + 1);
  return join(dirname(path), `${RESERVED_PREFIX}${name}.${suffix}`);
}

function describe(value: string | undefined): string {
  return value === undefined ? 'absent' : JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

async function fsCall<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asStoreError(url, e);
  }
}

/** fs errors become typed errors: missing → NotFoundError, anything else → UnavailableError. */
function asStoreError(url: string, e: unknown): Error {
  if (e instanceof KaskadeError) return e;
  if (isMissing(e)) return new NotFoundError(`${url} does not exist`, { cause: e });
  if (isCode(e, 'EISDIR')) return new NotFoundError(`${url} is a folder, not an object`, { cause: e });
  return new UnavailableError(`${url}: ${(e as Error).message}`, { cause: e });
}

function isMissing(e: unknown): boolean {
  return isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR');
}

function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
