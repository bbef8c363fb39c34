import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ForbiddenPathError, NotFoundError, PayloadTooLargeError, TimeoutError } from '../errors.js';
import { FileStore } from './file-store.js';

const run = promisify(execFile);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

let dir: string;
let root: string;
let store: FileStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaskade-file-store-'));
  root = `file://${dir}`;
  store = new FileStore([root], { lockTimeoutMs: 2000 });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileStore basics', () => {
  it('writes, reads, checks existence, lists sorted and deletes', async () => {
    await store.write(`${root}/m/b.bin`, bytes('B'));
    await store.write(`${root}/m/a/x.bin`, bytes('AX'));
    await store.write(`${root}/m/a.json`, bytes('{}'));
    await store.write(`${root}/other`, bytes('o'));
    expect(text(await store.read(`${root}/m/a/x.bin`))).toBe('AX');
    expect(await store.exists(`${root}/m/b.bin`)).toBe(true);
    expect(await store.exists(`${root}/m/nope`)).toBe(false);
    expect(await store.exists(`${root}/m/a/x.bin/deeper`)).toBe(false);
    expect(await store.list(`${root}/m/`)).toEqual([`${root}/m/a.json`, `${root}/m/a/x.bin`, `${root}/m/b.bin`]);
    expect(await store.list(`${root}/m/a`)).toEqual([`${root}/m/a.json`, `${root}/m/a/x.bin`]);
    expect(await store.list(`${root}/none/`)).toEqual([]);
    await store.delete(`${root}/m/b.bin`);
    expect(await store.exists(`${root}/m/b.bin`)).toBe(false);
    await expect(store.delete(`${root}/m/b.bin`)).rejects.toThrow(NotFoundError);
  });

  it('answers NotFoundError for missing objects and folders', async () => {
    await store.write(`${root}/f/x`, bytes('x'));
    await expect(store.read(`${root}/missing`)).rejects.toThrow(NotFoundError);
    await expect(store.read(`${root}/f`)).rejects.toThrow(NotFoundError);
    await expect(store.read(`${root}/f/x/y`)).rejects.toThrow(NotFoundError);
  });

  it('refuses an object over maxBytes before reading it', async () => {
    await store.write(`${root}/big`, new Uint8Array(1000));
    await expect(store.read(`${root}/big`, { maxBytes: 999 })).rejects.toThrow(PayloadTooLargeError);
    expect((await store.read(`${root}/big`, { maxBytes: 1000 })).length).toBe(1000);
  });

  it('confines every call to its roots', async () => {
    const outside = `file://${dir}-elsewhere/x`;
    await expect(store.write(outside, bytes('x'))).rejects.toThrow(ForbiddenPathError);
    await expect(store.read(`${root}/../x`)).rejects.toThrow(ForbiddenPathError);
    await expect(store.list(`file://${dir}-elsewhere/`)).rejects.toThrow(ForbiddenPathError);
    await expect(store.swapPointer(`${root}/%2e%2e/LATEST`, undefined, 'x')).rejects.toThrow(ForbiddenPathError);
    expect(() => store.modelHandler('gs://bucket/models/')).toThrow(ForbiddenPathError);
  });

  it('create-only writes fail with ConflictError when the object exists, leaving it unchanged', async () => {
    await store.write(`${root}/ckpt`, bytes('first'), { ifAbsent: true });
    await expect(store.write(`${root}/ckpt`, bytes('second'), { ifAbsent: true })).rejects.toThrow(ConflictError);
    expect(text(await store.read(`${root}/ckpt`))).toBe('first');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => store.write(`${root}/race`, bytes(`w${i}`), { ifAbsent: true })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
  });

  it('leaves no temp or lock files behind, and list never shows them', async () => {
    await store.write(`${root}/p/a`, bytes('a'));
    await store.write(`${root}/p/a`, bytes('b'));
    await store.swapPointer(`${root}/p/LATEST`, undefined, 'a');
    await expect(store.write(`${root}/p/a`, bytes('c'), { ifAbsent: true })).rejects.toThrow(ConflictError);
    expect((await readdir(join(dir, 'p'))).sort()).toEqual(['LATEST', 'a']);
    await writeFile(join(dir, 'p', '.~kaskade-a.stray.tmp'), 'half');
    expect(await store.list(`${root}/p/`)).toEqual([`${root}/p/LATEST`, `${root}/p/a`]);
  });
});

describe('FileStore atomic writes', () => {
  it('a concurrent reader never sees a partial or mixed file during many overwrites', async () => {
    const url = `${root}/model/weights.bin`;
    const size = 256 * 1024;
    const version = (v: number): Uint8Array => new Uint8Array(size).fill(v);
    await store.write(url, version(0));
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const data = await store.read(url);
        reads++;
        expect(data.length).toBe(size);
        const first = data[0];
        expect(data.every((b) => b === first)).toBe(true);
      }
    })();
    for (let v = 1; v <= 100; v++) await store.write(url, version(v % 256));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(10);
  });
});

describe('FileStore.swapPointer', () => {
  it('creates, swaps and refuses a stale expectation', async () => {
    const url = `${root}/models/LATEST`;
    await expect(store.swapPointer(url, 'x', 'y')).rejects.toThrow(ConflictError);
    await store.swapPointer(url, undefined, 'round-1');
    await expect(store.swapPointer(url, undefined, 'round-2')).rejects.toThrow(ConflictError);
    await store.swapPointer(url, 'round-1', 'round-2');
    await expect(store.swapPointer(url, 'round-1', 'round-3')).rejects.toThrow(/is "round-2", expected "round-1"/);
    expect(text(await store.read(url))).toBe('round-2');
  });

  it('N concurrent swaps from the same expected value: exactly one wins', async () => {
    const url = `${root}/LATEST`;
    await store.swapPointer(url, undefined, 'v0');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.swapPointer(url, 'v0', `w${i}`)),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    expect(text(await store.read(url))).toBe(`w${winners[0]}`);
  });

  it('across processes: one winner per race, and no lost increments', async () => {
    const url = `${root}/LATEST`;
    const worker = new URL('../../../test/fixtures/cas-worker.ts', import.meta.url).pathname;
    const spawn = (mode: string, id: number, count: number, startAt: number) =>
      run(process.execPath, ['--import', 'tsx', worker, root, url, mode, String(id), String(count), String(startAt)], {
        timeout: 60_000,
      });
    const processes = 4;

    await store.swapPointer(url, undefined, 'v0');
    const race = await Promise.all(Array.from({ length: processes }, (_, i) => spawn('race', i, 0, Date.now() + 2500)));
    const outcomes = race.map((r) => r.stdout.trim());
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'lost')).toHaveLength(processes - 1);

    await store.write(url, bytes('0'));
    const perProcess = 25;
    await Promise.all(
      Array.from({ length: processes }, (_, i) => spawn('increment', i, perProcess, Date.now() + 2500)),
    );
    expect(text(await store.read(url))).toBe(String(processes * perProcess));
  }, 120_000);

  it('breaks a lock left by a crashed writer, but waits for a live one', async () => {
    const url = `${root}/LATEST`;
    const lock = join(dir, '.~kaskade-LATEST.lock');
    await writeFile(lock, 'crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await store.swapPointer(url, undefined, 'after-crash');
    expect(text(await store.read(url))).toBe('after-crash');
    await expect(stat(lock)).rejects.toThrow();

    await writeFile(lock, 'live');
    const impatient = new FileStore([root], { lockTimeoutMs: 200 });
    await expect(impatient.swapPointer(url, 'after-crash', 'x')).rejects.toThrow(TimeoutError);
    expect(text(await store.read(url))).toBe('after-crash');
  });

  it('breaks a fresh lock at once when its holder, a process of this host, is gone (killed mid-swap)', async () => {
    const url = `${root}/LATEST`;
    const lock = join(dir, '.~kaskade-LATEST.lock');
    const namespace = await readlink('/proc/self/ns/pid');
    // A holder that took the lock and was killed before releasing it.
    const { stdout } = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const patient = new FileStore([root], { lockTimeoutMs: 5000, staleLockMs: 3_600_000 });
    await writeFile(lock, `${stdout}@${hostname()} ${new Date().toISOString()} ${namespace}\n`);
    await patient.swapPointer(url, undefined, 'after-kill');
    expect(text(await store.read(url))).toBe('after-kill');

    // A live holder (this test's parent) of this host, or one of another host: waited for.
    const impatient = new FileStore([root], { lockTimeoutMs: 200, staleLockMs: 3_600_000 });
    for (const holder of [`${process.ppid}@${hostname()}`, `${stdout}@another-host`]) {
      await writeFile(lock, `${holder} ${new Date().toISOString()} ${namespace}\n`);
      await expect(impatient.swapPointer(url, 'after-kill', 'x'), holder).rejects.toThrow(TimeoutError);
    }
    expect(text(await store.read(url))).toBe('after-kill');
  });
});
