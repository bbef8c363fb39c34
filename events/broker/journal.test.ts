import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from './broker.js';
import { Journal, replay, type AcceptedRecord, type LiveEvent } from './journal.js';
import { startSubscriber } from '../../test/fakes/subscriber.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-journal-'));
  dirs.push(dir);
  return dir;
}

const accepted = (s: number, triggers: string[]): AcceptedRecord => ({
  k: 'a',
  s,
  b: 'default',
  t: triggers,
  ttl: 255,
  a: { specversion: '1.0', id: `e${s}`, source: '/t', type: 't' },
});

async function openJournal(path: string, live: () => readonly LiveEvent[] = () => [], compactBytes = 1 << 20) {
  return Journal.open(path, {
    fsync: false,
    compactBytes,
    pendingCount: () => live().length,
    live,
    onError: (e) => {
      throw e;
    },
  });
}

describe('journal', () => {
  it('replays accepted events minus completed triggers, in order, with their bytes', async () => {
    const path = join(await tempDir(), 'j');
    const { journal } = await openJournal(path, () => [{ record: accepted(0, ['x']), data: undefined }]);
    await journal.append(accepted(1, ['a', 'b']), Uint8Array.from([9, 8, 7]));
    await journal.append(accepted(2, ['a']), undefined);
    await journal.append(accepted(3, ['a', 'b']), undefined);
    journal.complete({ k: 'd', s: 1, t: 'a' });
    journal.complete({ k: 'd', s: 2, t: 'a' });
    await journal.close();
    const { events, lastSeq, tornBytes } = replay(await readFile(path));
    expect(events.map((e) => [e.record.s, e.record.t])).toEqual([
      [1, ['b']],
      [3, ['a', 'b']],
    ]);
    expect([...(events[0]?.data ?? [])]).toEqual([9, 8, 7]);
    expect(lastSeq).toBe(3);
    expect(tornBytes).toBe(0);
  });

  it.each([
    { name: 'a torn last record', damage: (b: Buffer) => b.subarray(0, b.byteLength - 5) },
    {
      name: 'a garbled last header',
      damage: (b: Buffer) => Buffer.concat([b.subarray(0, b.byteLength - 4), Buffer.from('}}}}')]),
    },
  ])('keeps what precedes $name', async ({ damage }) => {
    const path = join(await tempDir(), 'j');
    const { journal } = await openJournal(path, () => [{ record: accepted(0, ['x']), data: undefined }]);
    await journal.append(accepted(1, ['a']), undefined);
    await journal.append(accepted(2, ['a']), undefined);
    await journal.close();
    const events = replay(damage(await readFile(path))).events;
    expect(events.map((e) => e.record.s)).toEqual([1]);
  });

  it('truncates when nothing is pending and rewrites itself past compactBytes', async () => {
    const path = join(await tempDir(), 'j');
    let live: LiveEvent[] = [];
    const { journal } = await openJournal(path, () => live, 2000);
    const big = new Uint8Array(600);
    for (let s = 1; s <= 5; s++) {
      live.push({ record: accepted(s, ['a']), data: big });
      await journal.append(accepted(s, ['a']), big);
    }
    live = live.slice(4); // four delivered; the next write triggers the rewrite
    journal.complete({ k: 'd', s: 1, t: 'a' });
    await journal.append(accepted(6, ['a']), undefined);
    live.push({ record: accepted(6, ['a']), data: undefined });
    await journal.settled();
    expect(replay(await readFile(path)).events.map((e) => e.record.s)).toEqual([5, 6]);
    expect((await stat(path)).size).toBeLessThan(1000);
    live = [];
    journal.complete({ k: 'd', s: 5, t: 'a' });
    await journal.close();
    expect((await stat(path)).size).toBe(0);
  });

  it('an event answered 202 survives the broker being killed (SIGKILL) right after', async () => {
    const dir = await tempDir();
    const down = await startSubscriber(() => ({ status: 503 }));
    const fixture = fileURLToPath(new URL('../../test/fixtures/broker-process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, BROKER_STATE_DIR: dir, SUBSCRIBER_URL: down.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const port = await new Promise<number>((resolve) =>
        child.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim()))),
      );
      const res = await fetch(`http://127.0.0.1:${port}/kaskade/default`, {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': 'survivor',
          'ce-source': '/kaskade/test',
          'ce-type': 'dev.kaskade.shard.ready',
          'content-type': 'application/octet-stream',
        },
        body: Uint8Array.from([1, 2, 3]),
      });
      expect(res.status).toBe(202);
      child.kill('SIGKILL');
      await once(child, 'exit');
    } finally {
      child.kill('SIGKILL');
      await down.close();
    }
    const up = await startSubscriber();
    const broker = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: [{ name: 'trainer', broker: 'default', subscriberUri: up.url }],
      stateDir: dir,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    try {
      const [got] = await up.waitFor(1);
      expect(got?.headers['ce-id']).toBe('survivor');
      expect([...(got?.body ?? [])]).toEqual([1, 2, 3]);
    } finally {
      await broker.close();
      await up.close();
    }
  }, 30_000);

  it('starts cleanly when the journal file holds garbage (nothing replayed)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'broker-kaskade.journal'), Buffer.from('not a journal at all'));
    const broker = await startBroker({
      namespace: 'kaskade',
      brokers: [{ name: 'default' }],
      triggers: [],
      stateDir: dir,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    expect(broker.stats().replayed).toBe(0);
    await broker.close();
  });
});
