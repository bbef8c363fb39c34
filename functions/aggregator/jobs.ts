// Reading jobs for `GET /jobs/<id>` and `POST /jobs/<id>/check`: a job is found by id under any
// configured storage root.
import { NotFoundError } from '../_shared/errors.js';
import { jobLayout, type JobLayout } from '../_shared/jobs/layout.js';
import { findJob, summarizeJob, type JobRecord, type JobSummary } from '../_shared/jobs/record.js';
import type { Store } from '../_shared/store/types.js';
import type { AggregatorDeps, AggregatorSettings } from './aggregate.js';
import { checkerId, checkRound, type RoundOutcome } from './collect.js';

export async function locateJob(
  store: Store,
  roots: readonly string[],
  jobId: string,
): Promise<{ job: JobRecord; layout: JobLayout }> {
  for (const root of roots) {
    const layout = jobLayout(root, jobId);
    const job = await findJob(store, layout.record);
    if (job !== undefined) return { job, layout };
  }
  throw new NotFoundError(`no job ${jobId}`);
}

export async function jobStatus(store: Store, roots: readonly string[], jobId: string): Promise<JobSummary> {
  return summarizeJob((await locateJob(store, roots, jobId)).job);
}

/** Re-checks the job's current round (deadlines, abandoned claims); a scheduler may call it. */
export async function recheckJob(
  deps: AggregatorDeps,
  settings: AggregatorSettings,
  jobId: string,
): Promise<RoundOutcome | { outcome: 'not-running'; jobId: string; status: JobRecord['status'] }> {
  const { job, layout } = await locateJob(deps.store, settings.roots, jobId);
  if (job.status !== 'running' || job.currentRound < 1) return { outcome: 'not-running', jobId, status: job.status };
  return checkRound(deps, settings, { layout, job }, job.currentRound, checkerId());
}
