// A client of a running Kaskade: asks for a training job (a `training.requested` event to the
// broker) and follows it through the aggregator's `GET /jobs/<id>` until it is done or failed.
// Used by `kaskade train` and `npm start`; every call has a timeout.
import { TimeoutError, UnavailableError } from '../functions/_shared/errors.js';
import { fetchWithTimeout } from '../functions/_shared/http.js';
import type { JobSummary, RoundResult } from '../functions/_shared/jobs/record.js';
import { EVENT_TYPES, type TrainingRequested } from './catalog.js';
import { createEvent, httpEmit } from './emit.js';

export async function requestTraining(
  brokerUrl: string,
  request: TrainingRequested & { jobId: string },
  source = '/kaskade/cli',
): Promise<void> {
  const emit = httpEmit({ sinkUrl: brokerUrl, timeoutMs: 10_000 });
  await emit(createEvent(EVENT_TYPES.trainingRequested, request, { source, id: `train-${request.jobId}` }));
}

export interface FollowOptions {
  /** `<aggregator URL>/jobs/<id>`. */
  statusUrl: string;
  /** Called once per newly finished round, in order. */
  onRound?: (result: RoundResult, job: JobSummary) => void;
  pollMs?: number;
  /** Give up after this long (the job keeps running). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Polls the job until `done` or `failed`; a job not yet created (404) is waited for. */
export async function followJob(o: FollowOptions): Promise<JobSummary> {
  const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  let reported = 0;
  for (;;) {
    o.signal?.throwIfAborted();
    const res = await fetchWithTimeout(o.statusUrl, { ...(o.signal ? { signal: o.signal } : {}) }, 60_000);
    if (res.status === 200) {
      const job = (await res.json()) as JobSummary;
      for (const r of job.results.slice(reported)) o.onRound?.(r, job);
      reported = job.results.length;
      if (job.status === 'done' || job.status === 'failed') return job;
    } else if (res.status !== 404) {
      throw new UnavailableError(`GET ${o.statusUrl} answered ${res.status}: ${await res.text()}`);
    } else await res.body?.cancel();
    if (Date.now() > deadline) throw new TimeoutError(`job at ${o.statusUrl} did not finish in time`);
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1_000));
  }
}

export interface RunJobOptions {
  brokerUrl: string;
  /** Base URL of the aggregator service. */
  aggregatorUrl: string;
  request: TrainingRequested & { jobId: string };
  /** Where progress lines go. */
  out: NodeJS.WritableStream;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Requests a job, prints one line per finished round, and returns the finished job. */
export async function runTrainingJob(o: RunJobOptions): Promise<{ job: JobSummary; seconds: number }> {
  const started = performance.now();
  const r = o.request;
  o.out.write(
    `job ${r.jobId}: ${r.model} on ${r.dataset}, ${r.shards} shards (${r.strategy}), ${r.rounds} rounds × ${r.localEpochs} local epoch(s), batch ${r.batchSize}\n`,
  );
  await requestTraining(o.brokerUrl, r);
  const job = await followJob({
    statusUrl: `${o.aggregatorUrl}/jobs/${encodeURIComponent(r.jobId)}`,
    onRound: (res, j) => {
      const s = ((performance.now() - started) / 1000).toFixed(1);
      o.out.write(
        `  round ${res.round}/${j.rounds}: test accuracy ${res.testAccuracy.toFixed(4)}, loss ${res.testLoss.toFixed(4)} (${res.participants.length}/${j.shards} shards, ${s} s)\n`,
      );
    },
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return { job, seconds: (performance.now() - started) / 1000 };
}
