import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../_shared/errors.js';
import { jobLayout, type JobLayout } from '../_shared/jobs/layout.js';
import { createJob, failJob, readJob, updateJob } from '../_shared/jobs/record.js';
import {
  arrivedShards,
  claimRound,
  completeRound,
  decideRound,
  quorumSize,
  readRoundState,
  recordArrival,
  type Arrival,
  type RoundDecision,
  type RoundFacts,
} from './rounds.js';
import { sampleJob, tempStore, type TempStore } from '../../test/support/jobs.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');

describe('decideRound', () => {
  const base: RoundFacts = { arrived: [], shards: 4, quorum: 0.5, deadlineMs: T0 + 60_000, nowMs: T0 };
  const cases: { name: string; facts: Partial<RoundFacts>; expected: RoundDecision }[] = [
    { name: 'nothing yet', facts: {}, expected: { action: 'wait', needed: 4, recheckAtMs: undefined } },
    {
      name: 'all arrived, before the deadline',
      facts: { arrived: [3, 1, 0, 2] },
      expected: { action: 'aggregate', participants: [0, 1, 2, 3], reason: 'all' },
    },
    {
      name: 'duplicates do not make a quorum',
      facts: { arrived: [1, 1, 1, 1] },
      expected: { action: 'wait', needed: 3, recheckAtMs: undefined },
    },
    {
      name: 'out-of-range shards are not counted',
      facts: { arrived: [0, 7, 9, 1, 2] },
      expected: { action: 'wait', needed: 1, recheckAtMs: T0 + 60_000 },
    },
    {
      name: 'quorum before the deadline: wait for it',
      facts: { arrived: [0, 2] },
      expected: { action: 'wait', needed: 2, recheckAtMs: T0 + 60_000 },
    },
    {
      name: 'quorum at the deadline',
      facts: { arrived: [2, 0], nowMs: T0 + 60_000 },
      expected: { action: 'aggregate', participants: [0, 2], reason: 'quorum' },
    },
    {
      name: 'below quorum after the deadline',
      facts: { arrived: [1], nowMs: T0 + 120_000 },
      expected: { action: 'wait', needed: 3, recheckAtMs: undefined },
    },
    {
      name: 'no deadline: wait for every shard',
      facts: { arrived: [0, 1, 2], deadlineMs: undefined, nowMs: T0 + 1e9 },
      expected: { action: 'wait', needed: 1, recheckAtMs: undefined },
    },
    {
      name: 'quorum 1 after the deadline still needs all',
      facts: { arrived: [0, 1, 2], quorum: 1, nowMs: T0 + 1e9 },
      expected: { action: 'wait', needed: 1, recheckAtMs: undefined },
    },
  ];
  it.each(cases)('$name', ({ facts, expected }) => {
    expect(decideRound({ ...base, ...facts })).toEqual(expected);
  });

  it.each([
    { name: '0.5 of 4', shards: 4, quorum: 0.5, expected: 2 },
    { name: '0.5 of 3 rounds up', shards: 3, quorum: 0.5, expected: 2 },
    { name: '0.1 of 3 is at least one', shards: 3, quorum: 0.01, expected: 1 },
    { name: 'float noise: 0.3 of 10', shards: 10, quorum: 0.3, expected: 3 },
    { name: 'all', shards: 5, quorum: 1, expected: 5 },
  ])('quorumSize $name', ({ shards, quorum, expected }) => {
    expect(quorumSize(shards, quorum)).toBe(expected);
  });
});

describe('round bookkeeping in storage', () => {
  let temp: TempStore;
  let layout: JobLayout;
  beforeEach(async () => {
    temp = await tempStore();
    layout = jobLayout(temp.root, 'job-r');
  });
  afterEach(() => temp.remove());

  const arrival = (k: number, id = `e-${k}`): Arrival => ({
    shardIndex: k,
    exampleCount: 10 + k,
    weightsUrl: layout.shardWeights(1, k),
    metrics: { loss: 0.5, accuracy: 0.9, samplesPerSec: 100 },
    event: { source: '/kaskade/shard-trainer', id },
    arrivedAt: new Date(T0).toISOString(),
  });

  it('records each shard once, however often it arrives, concurrently or late', async () => {
    const results = await Promise.all(
      [arrival(0), arrival(1), arrival(0, 'again'), arrival(1), arrival(0)].map((a) =>
        recordArrival(temp.store, layout, 1, a),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(2);
    expect(await arrivedShards(temp.store, layout, 1)).toEqual([0, 1]);
    expect(await recordArrival(temp.store, layout, 1, arrival(1))).toBe(false);
    expect(await arrivedShards(temp.store, layout, 2)).toEqual([]);
  });

  it('lets exactly one of many concurrent claimants aggregate a round', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimRound(temp.store, layout, 1, { participants: [0, 1, 2], by: `agg-${i}`, nowMs: T0, leaseMs: 60_000 }),
      ),
    );
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    const state = await readRoundState(temp.store, layout, 1);
    expect(state?.state).toMatchObject({ state: 'aggregating', participants: [0, 1, 2] });
  });

  it('re-enters its own claim, keeps out others while the lease holds, hands over when it lapses', async () => {
    const first = await claimRound(temp.store, layout, 1, {
      participants: [0, 2],
      by: 'e-2',
      nowMs: T0,
      leaseMs: 60_000,
    });
    expect(first.won).toBe(true);
    const again = await claimRound(temp.store, layout, 1, {
      participants: [0, 1, 2],
      by: 'e-2',
      nowMs: T0 + 1000,
      leaseMs: 60_000,
    });
    expect(again).toMatchObject({ won: true, claim: { participants: [0, 2] } });
    const other = await claimRound(temp.store, layout, 1, {
      participants: [0, 1, 2],
      by: 'e-9',
      nowMs: T0 + 59_000,
      leaseMs: 60_000,
    });
    expect(other.won).toBe(false);
    const takeover = await claimRound(temp.store, layout, 1, {
      participants: [0, 1, 2],
      by: 'e-9',
      nowMs: T0 + 61_000,
      leaseMs: 60_000,
    });
    expect(takeover).toMatchObject({ won: true, claim: { by: 'e-9', participants: [0, 2] } });
    if (!takeover.won) throw new Error('takeover lost');
    await completeRound(temp.store, layout, 1, takeover.text, [0, 2]);
    const late = await claimRound(temp.store, layout, 1, {
      participants: [0, 1, 2],
      by: 'e-1',
      nowMs: T0 + 1e9,
      leaseMs: 1,
    });
    expect(late).toMatchObject({ won: false, state: { state: 'done', participants: [0, 2] } });
  });

  it('completing a round someone else already finished is fine; an unfinished lost claim is not', async () => {
    const mine = await claimRound(temp.store, layout, 1, { participants: [0], by: 'a', nowMs: T0, leaseMs: 10 });
    const theirs = await claimRound(temp.store, layout, 1, {
      participants: [0],
      by: 'b',
      nowMs: T0 + 100,
      leaseMs: 10,
    });
    if (!mine.won || !theirs.won) throw new Error('claims should both have been won in turn');
    await expect(completeRound(temp.store, layout, 1, mine.text, [0])).rejects.toBeInstanceOf(ConflictError);
    await completeRound(temp.store, layout, 1, theirs.text, [0]);
    await completeRound(temp.store, layout, 1, mine.text, [0]);
  });
});

describe('job record', () => {
  let temp: TempStore;
  beforeEach(async () => {
    temp = await tempStore();
  });
  afterEach(() => temp.remove());

  it('is created once; a second create answers the first record', async () => {
    const url = jobLayout(temp.root, 'job-c').record;
    const first = await createJob(temp.store, url, sampleJob('job-c'));
    const second = await createJob(temp.store, url, {
      ...sampleJob('job-c'),
      requestedBy: { source: '/other', id: 'x' },
    });
    expect(first.created).toBe(true);
    expect(second).toMatchObject({ created: false, record: { requestedBy: { source: '/test' } } });
  });

  it('loses no update when many writers update at once', async () => {
    const url = jobLayout(temp.root, 'job-u').record;
    await createJob(temp.store, url, sampleJob('job-u'));
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        updateJob(temp.store, url, (job) => ({
          ...job,
          results: [
            ...job.results,
            { round: i + 1, testAccuracy: 0.5, testLoss: 1, participants: [0], examples: 10, finishedAt: 'now' },
          ],
        })),
      ),
    );
    const job = await readJob(temp.store, url);
    expect(job.results.map((r) => r.round).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('fails a running job once and leaves a finished one alone', async () => {
    const url = jobLayout(temp.root, 'job-f').record;
    await createJob(temp.store, url, sampleJob('job-f'));
    const failed = await failJob(temp.store, url, { reason: 'trainer down', stage: 'train', round: 1 });
    expect(failed).toMatchObject({ status: 'failed', failure: { reason: 'trainer down', stage: 'train', round: 1 } });
    const again = await failJob(temp.store, url, { reason: 'other', stage: 'aggregate' });
    expect(again.failure?.reason).toBe('trainer down');
    const doneUrl = jobLayout(temp.root, 'job-d').record;
    await createJob(temp.store, doneUrl, { ...sampleJob('job-d'), status: 'done' });
    expect((await failJob(temp.store, doneUrl, { reason: 'late', stage: 'train' })).status).toBe('done');
  });

  it('refuses a record that does not match its schema', async () => {
    const url = jobLayout(temp.root, 'job-bad').record;
    await temp.store.write(url, new TextEncoder().encode('{"format":"kaskade.job/v1","jobId":"job-bad"}'));
    await expect(readJob(temp.store, url)).rejects.toThrow(/invalid job record/);
  });
});
