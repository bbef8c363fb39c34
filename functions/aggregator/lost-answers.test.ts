// Precondition writes on gs:// whose first attempt committed but whose answer was lost, with the
// real @google-cloud/storage client against the wire-level fake of the GCS JSON API: the
// client's retry meets its own write as a conflict, and the caller must still see it as its own.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeGcsServer, type LoggedRequest } from '../../test/fakes/gcs-server.js';
import { GcsStore } from '../_shared/store/gcs-store.js';
import { jobLayout } from '../_shared/jobs/layout.js';
import { createJob, readJob, updateJob } from '../_shared/jobs/record.js';
import { claimRound, readRoundState, type ClaimRequest } from './rounds.js';
import { sampleJob } from '../../test/support/jobs.js';

const root = 'gs://kaskade-rounds/runs';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const LEASE_MS = 600_000;

let fake: FakeGcsServer;
let store: GcsStore;
beforeAll(async () => {
  fake = await FakeGcsServer.start();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  store = new GcsStore([root], {
    apiEndpoint: fake.endpoint,
    maxRetries: 3,
    maxRetryDelayMs: 1000,
    requestTimeoutMs: 5000,
    operationTimeoutMs: 30_000,
  });
});

const stateWrite =
  (round: number) =>
  (r: LoggedRequest): boolean =>
    r.method === 'POST' && r.path.startsWith('/upload/') && (r.query.name ?? '').endsWith(`rounds/${round}/STATE`);
const request = (by: string, nowMs = T0): ClaimRequest => ({ participants: [0, 1], by, nowMs, leaseMs: LEASE_MS });

describe('claimRound on gs://', () => {
  it.each([
    { name: 'a 503', answer: 503 as const },
    { name: 'a reset connection', answer: 'reset' as const },
  ])('wins a fresh claim whose write committed but whose answer was lost ($name)', async ({ answer }) => {
    const layout = jobLayout(root, `job-lost-${String(answer)}`);
    fake.loseAnswerNext(1, stateWrite(1), answer);
    const outcome = await claimRound(store, layout, 1, request('event-a'));
    expect(outcome).toMatchObject({ won: true, claim: { by: 'event-a', participants: [0, 1] } });
    // The client retried, and the retry met the first attempt's write as a precondition failure.
    expect(fake.requests.filter(stateWrite(1)).length).toBeGreaterThanOrEqual(2);
    expect((await readRoundState(store, layout, 1))?.state).toMatchObject({ state: 'aggregating', by: 'event-a' });
  });

  it('wins a takeover of an abandoned claim whose answer was lost', async () => {
    const layout = jobLayout(root, 'job-takeover');
    await claimRound(store, layout, 2, request('event-old'));
    fake.loseAnswerNext(1, stateWrite(2));
    const outcome = await claimRound(store, layout, 2, request('event-new', T0 + LEASE_MS + 1));
    expect(outcome).toMatchObject({ won: true, claim: { by: 'event-new' } });
  });

  it('still loses to a claim another caller committed first', async () => {
    const layout = jobLayout(root, 'job-race');
    // Another aggregator's claim lands between this caller's read and its write.
    fake.beforeNext(stateWrite(3), () => {
      const other = JSON.stringify({
        state: 'aggregating',
        participants: [0, 1],
        by: 'event-b',
        at: new Date(T0).toISOString(),
      });
      fake.putObject('kaskade-rounds', 'runs/jobs/job-race/rounds/3/STATE', new TextEncoder().encode(other));
    });
    const outcome = await claimRound(store, layout, 3, request('event-a'));
    expect(outcome).toMatchObject({ won: false, state: { by: 'event-b' } });
  });
});

describe('updateJob on gs://', () => {
  it('applies an update once when its write committed but its answer was lost', async () => {
    const url = jobLayout(root, 'job-record').record;
    await createJob(store, url, sampleJob('job-record'));
    fake.loseAnswerNext(1, (r) => r.method === 'POST' && (r.query.name ?? '').endsWith('job-record/job.json'));
    const result = { round: 1, testAccuracy: 0.5, testLoss: 1, participants: [0], examples: 10, finishedAt: 'now' };
    const updated = await updateJob(store, url, (job) => ({ ...job, results: [...job.results, result] }));
    expect(updated.results).toHaveLength(1);
    expect((await readJob(store, url)).results).toHaveLength(1);
  });
});
