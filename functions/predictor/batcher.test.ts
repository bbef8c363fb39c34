import { afterEach, describe, expect, it, vi } from 'vitest';
import { InferenceError } from '../_shared/errors.js';
import { Batcher, concatBatches } from './batcher.js';
import type { Lease } from './model-registry.js';
import type { Probabilities } from './run-model.js';
import type { ModelBatch } from './tensor-input.js';

/** A stand-in model: answers, per instance, [model offset + sum of its values, first value]. */
interface FakeModel {
  readonly name: string;
  readonly offset: number;
}

interface Call {
  model: string;
  instances: number;
  signature: string;
}

/** A model runner that records calls and can hold each call until released. */
function fakeRunner(options: { fail?: (batch: ModelBatch) => boolean } = {}) {
  const calls: Call[] = [];
  const gates: Array<() => void> = [];
  let holding = false;
  const run = async (model: FakeModel, batch: ModelBatch): Promise<Probabilities> => {
    calls.push({
      model: model.name,
      instances: batch.shape[0] ?? 0,
      signature: `${batch.dtype}[${batch.shape.slice(1).join(',')}]`,
    });
    if (holding) await new Promise<void>((release) => gates.push(release));
    if (options.fail?.(batch)) throw new Error('kernel exploded');
    return rowsFor(model, batch);
  };
  return {
    calls,
    run,
    hold: () => (holding = true),
    /** Stops holding and lets every held call finish. */
    releaseAll: () => {
      holding = false;
      for (const release of gates.splice(0)) release();
    },
    held: () => gates.length,
  };
}

function rowsFor(model: FakeModel, batch: ModelBatch): Probabilities {
  const n = batch.shape[0] ?? 0;
  const per = batch.values.length / Math.max(n, 1);
  const values = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < per; j++) sum += batch.values[i * per + j] ?? 0;
    values[i * 2] = model.offset + sum;
    values[i * 2 + 1] = batch.values[i * per] ?? 0;
  }
  return { n, classes: 2, values };
}

/** Leases that count how many are held, per model. */
function leases() {
  const held = new Map<string, number>();
  let releases = 0;
  return {
    take(model: FakeModel): Lease<FakeModel> {
      held.set(model.name, (held.get(model.name) ?? 0) + 1);
      let released = false;
      return {
        model,
        release: () => {
          if (released) return;
          released = true;
          releases++;
          held.set(model.name, (held.get(model.name) ?? 0) - 1);
        },
      };
    },
    held: (model: FakeModel) => held.get(model.name) ?? 0,
    releases: () => releases,
  };
}

const A: FakeModel = { name: 'a', offset: 0 };
const B: FakeModel = { name: 'b', offset: 1000 };

/** `n` images of 2×2×1 whose values start at `first`. */
function images(n: number, first: number): ModelBatch {
  return { dtype: 'float32', shape: [n, 2, 2, 1], values: Float32Array.from({ length: n * 4 }, (_, i) => first + i) };
}

const tokens = (n: number, first: number): ModelBatch => ({
  dtype: 'int32',
  shape: [n, 3],
  values: Int32Array.from({ length: n * 3 }, (_, i) => first + i),
});

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A fake clock for the batcher's waits (timers and performance.now); event-loop turns stay real. */
function fakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
}
afterEach(() => {
  vi.useRealTimers();
});

/** Whether `p` has settled, seen after one event-loop turn. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await nextTurn();
  await nextTurn();
  return done;
}

describe('Batcher', () => {
  interface SizeCase {
    name: string;
    maxBatchSize: number;
    /** Instances per request, submitted while a first one-instance request holds the model. */
    queued: number[];
    /** Instances per model call after the first. */
    expected: number[];
  }
  const sizeCases: SizeCase[] = [
    {
      name: 'ten singles queue into batches of at most four',
      maxBatchSize: 4,
      queued: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      expected: [4, 4, 2],
    },
    {
      name: 'requests are never split; one that does not fit waits for the next call',
      maxBatchSize: 5,
      queued: [2, 2, 2, 3],
      expected: [4, 5],
    },
    { name: 'a request larger than the maximum runs alone', maxBatchSize: 3, queued: [1, 7, 1], expected: [1, 7, 1] },
    { name: 'maximum 1 turns batching off', maxBatchSize: 1, queued: [1, 1, 1], expected: [1, 1, 1] },
  ];

  it.each(sizeCases)('$name', async ({ maxBatchSize, queued, expected }) => {
    const runner = fakeRunner();
    const pool = leases();
    const batcher = new Batcher<FakeModel>({ maxBatchSize, maxLatencyMs: 0, run: runner.run });
    runner.hold();
    const first = batcher.submit(pool.take(A), images(1, 0));
    await nextTurn();
    expect(runner.held()).toBe(1);
    const inputs = queued.map((n, i) => images(n, (i + 1) * 100));
    const answers = inputs.map((batch) => batcher.submit(pool.take(A), batch));
    runner.releaseAll();
    await first;
    const results = await Promise.all(answers);
    expect(runner.calls.slice(1).map((c) => c.instances)).toEqual(expected);
    // Above the maximum only ever means one request that was larger on its own.
    for (const call of runner.calls) if (call.instances > maxBatchSize) expect(queued).toContain(call.instances);
    results.forEach((p, i) => {
      const input = inputs[i];
      if (!input) throw new Error('missing input');
      expect(p.n).toBe(input.shape[0]);
      expect(Array.from(p.values)).toEqual(Array.from(rowsFor(A, input).values));
    });
    expect(pool.held(A)).toBe(0);
    expect(batcher.stats()).toMatchObject({ batches: expected.length + 1, requests: queued.length + 1 });
  });

  it('dispatches a lone request on the next turn, without waiting for maxLatency', async () => {
    fakeClock();
    const runner = fakeRunner();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 32, maxLatencyMs: 60_000, run: runner.run });
    const started = performance.now();
    const p = await batcher.submit(leases().take(A), images(1, 5));
    expect(performance.now() - started).toBe(0); // answered with no time passing on the clock
    expect(Array.from(p.values)).toEqual([5 + 6 + 7 + 8, 5]);
  });

  it('joins requests that arrive in the same turn into one call', async () => {
    const runner = fakeRunner();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 32, maxLatencyMs: 0, run: runner.run });
    const pool = leases();
    const answers = [0, 1, 2, 3, 4].map((i) => batcher.submit(pool.take(A), images(1, i * 10)));
    const results = await Promise.all(answers);
    expect(runner.calls.map((c) => c.instances)).toEqual([5]);
    results.forEach((p, i) => expect(p.values[1]).toBe(i * 10));
  });

  it('after concurrent traffic, waits up to maxLatency for as many requests as were outstanding', async () => {
    fakeClock();
    const runner = fakeRunner();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 32, maxLatencyMs: 300, run: runner.run });
    const pool = leases();
    // Four clients at once: one call of four.
    await Promise.all([0, 1, 2, 3].map((i) => batcher.submit(pool.take(A), images(1, i))));
    expect(runner.calls.map((c) => c.instances)).toEqual([4]);
    // The next request waits for the other three (they come 20 ms later), then all four run together.
    const early = batcher.submit(pool.take(A), images(1, 10));
    await vi.advanceTimersByTimeAsync(20);
    expect(runner.calls).toHaveLength(1);
    const late = [11, 12, 13].map((v) => batcher.submit(pool.take(A), images(1, v)));
    await Promise.all([early, ...late]);
    expect(runner.calls.map((c) => c.instances)).toEqual([4, 4]);
    // Alone now, a request waits maxLatency once (and not a moment less), and the next one not at all.
    const alone = batcher.submit(pool.take(A), images(1, 20));
    await vi.advanceTimersByTimeAsync(299);
    expect(await settled(alone)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await alone;
    const started = performance.now();
    await batcher.submit(pool.take(A), images(1, 21));
    expect(performance.now() - started).toBe(0);
    expect(runner.calls.map((c) => c.instances)).toEqual([4, 4, 1, 1]);
    expect(pool.held(A)).toBe(0);
  });

  it('never mixes models or input signatures in one call, and serves the oldest request first', async () => {
    const runner = fakeRunner();
    const pool = leases();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 32, maxLatencyMs: 0, run: runner.run });
    runner.hold();
    const first = batcher.submit(pool.take(A), images(1, 0));
    await nextTurn();
    // While A runs, a hot reload swaps in B: requests for both queue up, with token inputs too.
    const queued: Array<{ model: FakeModel; batch: ModelBatch }> = [
      { model: A, batch: images(1, 100) },
      { model: B, batch: images(1, 200) },
      { model: A, batch: tokens(2, 300) },
      { model: B, batch: images(2, 400) },
      { model: A, batch: images(1, 500) },
      { model: B, batch: tokens(1, 600) },
    ];
    const answers = queued.map((q) => batcher.submit(pool.take(q.model), q.batch));
    runner.releaseAll();
    await first;
    const results = await Promise.all(answers);
    expect(runner.calls.slice(1)).toEqual([
      { model: 'a', instances: 2, signature: 'float32[2,2,1]' },
      { model: 'b', instances: 3, signature: 'float32[2,2,1]' },
      { model: 'a', instances: 2, signature: 'int32[3]' },
      { model: 'b', instances: 1, signature: 'int32[3]' },
    ]);
    results.forEach((p, i) => {
      const q = queued[i];
      if (!q) throw new Error('missing request');
      expect(Array.from(p.values)).toEqual(Array.from(rowsFor(q.model, q.batch).values));
    });
    expect(pool.held(A) + pool.held(B)).toBe(0);
  });

  it('holds one lease per running call and releases every lease', async () => {
    const runner = fakeRunner();
    const pool = leases();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 8, maxLatencyMs: 0, run: runner.run });
    runner.hold();
    const answers = [0, 1, 2, 3, 4, 5].map((i) => batcher.submit(pool.take(A), images(1, i)));
    await nextTurn();
    expect(runner.held()).toBe(1);
    expect(pool.held(A)).toBe(1);
    runner.releaseAll();
    await Promise.all(answers);
    expect(pool.held(A)).toBe(0);
    expect(pool.releases()).toBe(6);
  });

  it('fails every request of a failing call with InferenceError, and only those', async () => {
    const runner = fakeRunner({ fail: (batch) => batch.dtype === 'int32' });
    const pool = leases();
    const batcher = new Batcher<FakeModel>({ maxBatchSize: 8, maxLatencyMs: 0, run: runner.run });
    runner.hold();
    const first = batcher.submit(pool.take(A), images(1, 0));
    await nextTurn();
    const good = [1, 2].map((i) => batcher.submit(pool.take(A), images(1, i)));
    const doomed = [3, 4, 5].map((i) => batcher.submit(pool.take(A), tokens(1, i)));
    runner.releaseAll();
    await first;
    const settled = await Promise.allSettled([...good, ...doomed]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    for (const s of settled.slice(2)) {
      if (s.status !== 'rejected') throw new Error('expected a failure');
      expect(s.reason).toBeInstanceOf(InferenceError);
      expect((s.reason as InferenceError).httpStatus).toBe(500);
      expect((s.reason as InferenceError).message).toContain(
        'batch of 3 instances (3 requests) failed: kernel exploded',
      );
    }
    expect(pool.held(A)).toBe(0);
    // The batcher keeps serving after a failure.
    expect((await batcher.submit(pool.take(A), images(1, 9))).values[1]).toBe(9);
  });

  it('refuses a model answer with the wrong number of rows', async () => {
    const batcher = new Batcher<FakeModel>({
      maxBatchSize: 8,
      maxLatencyMs: 0,
      run: () => Promise.resolve({ n: 1, classes: 2, values: new Float32Array(2) }),
    });
    const pool = leases();
    await expect(batcher.submit(pool.take(A), images(2, 0))).rejects.toThrow(
      'the model answered 1 rows for 2 instances',
    );
    expect(pool.held(A)).toBe(0);
  });

  it('refuses impossible settings', () => {
    const run = fakeRunner().run;
    expect(() => new Batcher<FakeModel>({ maxBatchSize: 0, maxLatencyMs: 0, run })).toThrow('maxBatchSize');
    expect(() => new Batcher<FakeModel>({ maxBatchSize: 4, maxLatencyMs: -1, run })).toThrow('maxLatencyMs');
  });
});

describe('concatBatches', () => {
  it('stacks values along the batch axis', () => {
    const joined = concatBatches([images(1, 0), images(2, 50)]);
    expect(joined.shape).toEqual([3, 2, 2, 1]);
    expect(Array.from(joined.values)).toEqual([0, 1, 2, 3, 50, 51, 52, 53, 54, 55, 56, 57]);
  });

  it('refuses to mix dtypes', () => {
    expect(() => concatBatches([images(1, 0), tokens(1, 0)])).toThrow('cannot batch float32 and int32');
  });
});
