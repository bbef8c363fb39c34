// Storage faults through the public store API (`openStore`), for both schemes a deployment uses:
// two writers creating the same object (one wins, the other gets a precondition failure),
// transient 503s from the GCS fake (retried for writes with a precondition, never for blind
// ones), and a conditional write that committed but whose answer was lost (recognised as our
// own). gs:// runs the real @google-cloud/storage client against test/fakes/gcs-server.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, UnavailableError } from '../../functions/_shared/errors.js';
import { openStore, readLatest, publishLatest, type Store } from '../../functions/_shared/store/index.js';
import { FakeGcsServer, type LoggedRequest } from '../fakes/gcs-server.js';
import { tempStore, type TempStore } from '../support/jobs.js';

const BUCKET = 'kaskade-reliability';
const GS_ROOT = `gs://${BUCKET}/runs`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

let fake: FakeGcsServer;
let temp: TempStore;

beforeAll(async () => {
  fake = await FakeGcsServer.start();
  temp = await tempStore('kaskade-reliability-store-');
});
afterAll(async () => {
  await fake.close();
  await temp.remove();
});
beforeEach(() => fake.reset());

/** A store as one pod opens it: its own client, both roots. */
function pod(): Store {
  return openStore({
    roots: [temp.root, GS_ROOT],
    gcs: {
      apiEndpoint: fake.endpoint,
      maxRetries: 3,
      maxRetryDelayMs: 1000,
      requestTimeoutMs: 10_000,
      operationTimeoutMs: 60_000,
    },
  });
}

const uploads = (name: string) => (r: LoggedRequest) =>
  r.method === 'POST' && r.path.startsWith('/upload/') && (r.query.name ?? '').endsWith(name);

/** Requests to the fake logged while `fn` ran. */
async function traffic(fn: () => Promise<unknown>): Promise<LoggedRequest[]> {
  const start = fake.requests.length;
  await fn();
  return fake.requests.slice(start);
}

describe('two writers create the same object', () => {
  it.each([
    { scheme: 'file://', root: () => temp.root },
    { scheme: 'gs://', root: () => GS_ROOT },
  ])('$scheme: one wins, the other gets a precondition failure, 20 races', async ({ root }) => {
    const [a, b] = [pod(), pod()];
    for (let i = 0; i < 20; i++) {
      const url = `${root()}/race/${i}/claim.json`;
      const results = await Promise.allSettled([
        a.write(url, bytes(`a${i}`), { ifAbsent: true }),
        b.write(url, bytes(`b${i}`), { ifAbsent: true }),
      ]);
      const won = results.flatMap((r, k) => (r.status === 'fulfilled' ? ['ab'[k]] : []));
      expect(won, `race ${i}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
      expect(text(await a.read(url))).toBe(`${won[0]}${i}`);
    }
  });
});

describe('transient 503s from GCS', () => {
  it('a create (ifGenerationMatch=0) is retried and lands once', async () => {
    const store = pod();
    const url = `${GS_ROOT}/flaky/create.json`;
    const log = await traffic(async () => {
      fake.failNext(2, 503, uploads('flaky/create.json'));
      await store.write(url, bytes('created'), { ifAbsent: true });
    });
    expect(log.filter(uploads('flaky/create.json')).map((r) => r.status)).toEqual([503, 503, 200]);
    expect(fake.getObject(BUCKET, 'runs/flaky/create.json')?.generation).toBeGreaterThan(0);
    expect(text(await store.read(url))).toBe('created');
  });

  it('a pointer swap (ifGenerationMatch=<generation>) is retried and lands once', async () => {
    const store = pod();
    const folder = `${GS_ROOT}/flaky/model`;
    await publishLatest(store, folder, 'round-1');
    const log = await traffic(async () => {
      fake.failNext(1, 503, uploads('flaky/model/LATEST'));
      await publishLatest(store, folder, 'round-2');
    });
    expect(log.filter(uploads('flaky/model/LATEST')).map((r) => r.status)).toEqual([503, 200]);
    expect(await readLatest(store, folder)).toBe('round-2');
  });

  it('a write without a precondition is not retried: one attempt, UnavailableError, nothing written', async () => {
    const store = pod();
    const url = `${GS_ROOT}/flaky/blind.json`;
    const log = await traffic(async () => {
      fake.failNext(1, 503, uploads('flaky/blind.json'));
      await expect(store.write(url, bytes('blind'))).rejects.toThrow(UnavailableError);
    });
    expect(log.filter(uploads('flaky/blind.json')).map((r) => r.status)).toEqual([503]);
    expect(await store.exists(url)).toBe(false);
    // Its caller retries the operation (a broker redelivery): the next attempt lands.
    await store.write(url, bytes('blind'));
    expect(text(await store.read(url))).toBe('blind');
  });
});

describe('a conditional write that committed but whose answer was lost', () => {
  it.each([
    { name: 'answered 503', answer: 503 as const },
    { name: 'connection reset', answer: 'reset' as const },
  ])('a create ($name) is recognised as our own: it resolves, one generation', async ({ answer }) => {
    const store = pod();
    const name = `lost/${String(answer)}/create.json`;
    const log = await traffic(async () => {
      fake.loseAnswerNext(1, uploads(name), answer);
      await store.write(`${GS_ROOT}/${name}`, bytes('ours'), { ifAbsent: true });
    });
    // The first attempt committed; the retry met it as a 412 and read back our own tag.
    expect(log.filter(uploads(name)).map((r) => r.status)).toEqual([answer === 'reset' ? 0 : 503, 412]);
    expect(fake.listObjects(BUCKET).filter((o) => o.name === `runs/${name}`)).toHaveLength(1);
    expect(text(await store.read(`${GS_ROOT}/${name}`))).toBe('ours');
  });

  it('a pointer swap is recognised as our own, and the next swap still compares against it', async () => {
    const store = pod();
    const folder = `${GS_ROOT}/lost/model`;
    await publishLatest(store, folder, 'round-1');
    fake.loseAnswerNext(1, uploads('lost/model/LATEST'));
    await publishLatest(store, folder, 'round-2');
    expect(await readLatest(store, folder)).toBe('round-2');
    await expect(store.swapPointer(`${folder}/LATEST`, 'round-1', 'round-3')).rejects.toThrow(ConflictError);
  });

  it('an object another writer created in between is still a conflict, not taken for ours', async () => {
    const [store, other] = [pod(), pod()];
    const name = 'lost/theirs/create.json';
    // Our attempt fails with no effect; before our retry, another pod creates the object.
    fake.failNext(1, 503, uploads(name));
    fake.beforeNext(
      (r) => uploads(name)(r) && fake.requests.filter(uploads(name)).length === 2,
      () => fake.putObject(BUCKET, `runs/${name}`, bytes('theirs')),
    );
    await expect(store.write(`${GS_ROOT}/${name}`, bytes('ours'), { ifAbsent: true })).rejects.toThrow(ConflictError);
    expect(text(await other.read(`${GS_ROOT}/${name}`))).toBe('theirs');
  });
});
